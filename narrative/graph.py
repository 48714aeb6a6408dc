"""A story as a graph: what makes it playable, and where to draw it.

`load(story_id)` reads the story's chapters, choices and impacts in three queries;
`problems(graph)` lists, in words, whatever would stop a member from playing it through:
no chapter 1, a chapter without choices (a dead end), a choice leading out of the story, a
chapter no path from chapter 1 reaches, a loop (a decision is made once per chapter, so a
path that comes back would strand the member), and an impact that can push a character's
level past [LEVEL_MIN, LEVEL_MAX] on some path. The admin refuses to publish a story with
problems, and refuses edits that would give a published story one.

`layout(graph)` places chapters in columns by their distance from chapter 1, for the
dashboard's story map.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from django.db.models import F

from narrative.models import LEVEL_MAX, LEVEL_MIN, Chapter, Character, Choice, ChoiceImpact


@dataclass
class ChapterNode:
    id: int
    number: int
    title: str
    vip_only: bool = False
    unlock_rule: str = "previous"
    unlock_amount: int | None = None
    unlock_currency_code: str | None = None

    def locks(self) -> list[str]:
        """What entering it takes besides a choice leading here: "VIP", "50 points",
        "premium"."""
        found = ["VIP"] if self.vip_only else []
        if self.unlock_rule == "min_balance":
            found.append(f"{self.unlock_amount} {self.unlock_currency_code}")
        elif self.unlock_rule == "subscription":
            found.append("premium")
        return found


@dataclass
class Edge:
    id: int | None
    chapter_id: int
    text: str
    next_chapter_id: int | None
    ending: str = ""
    reward: int = 0
    impacts: dict[int, int] = field(default_factory=dict)  # character id -> delta


@dataclass
class StoryGraph:
    story_id: int
    chapters: dict[int, ChapterNode]
    choices: list[Edge]
    characters: dict[int, str]

    def first(self) -> ChapterNode | None:
        return next((c for c in self.chapters.values() if c.number == 1), None)

    def by_chapter(self) -> dict[int, list[Edge]]:
        out: dict[int, list[Edge]] = {chapter_id: [] for chapter_id in self.chapters}
        for edge in self.choices:
            out.setdefault(edge.chapter_id, []).append(edge)
        return out

    def replace_choices(self, chapter_id: int, edges: list[Edge]) -> StoryGraph:
        """The graph as it would be with `chapter_id`'s choices replaced by `edges`."""
        kept = [edge for edge in self.choices if edge.chapter_id != chapter_id]
        return StoryGraph(self.story_id, dict(self.chapters), kept + list(edges), self.characters)


def load(story_id: int) -> StoryGraph:
    chapters = {
        row["id"]: ChapterNode(**row)
        for row in Chapter.objects.filter(story_id=story_id)
        .order_by("number")
        .values(
            "id",
            "number",
            "title",
            "vip_only",
            "unlock_rule",
            "unlock_amount",
            unlock_currency_code=F("unlock_currency__code"),
        )
    }
    impacts: dict[int, dict[int, int]] = {}
    for choice_id, character_id, delta in ChoiceImpact.objects.filter(
        choice__chapter__story_id=story_id
    ).values_list("choice_id", "character_id", "delta"):
        impacts.setdefault(choice_id, {})[character_id] = delta
    choices = [
        Edge(
            id=row["id"],
            chapter_id=row["chapter_id"],
            text=row["text"],
            next_chapter_id=row["next_chapter_id"],
            ending=row["ending"],
            reward=row["reward"],
            impacts=impacts.get(row["id"], {}),
        )
        for row in Choice.objects.filter(chapter__story_id=story_id)
        .order_by("chapter__number", "position", "id")
        .values("id", "chapter_id", "text", "next_chapter_id", "ending", "reward")
    ]
    characters = dict(
        Character.objects.filter(story_id=story_id).order_by("name").values_list("id", "name")
    )
    return StoryGraph(story_id, chapters, choices, characters)


def _label(graph: StoryGraph, chapter_id: int) -> str:
    node = graph.chapters.get(chapter_id)
    return f"chapter {node.number} ({node.title})" if node else f"chapter #{chapter_id}"


def order(graph: StoryGraph) -> list[int] | None:
    """The chapters reachable from chapter 1 in an order where every choice leads
    forward, or None if some path loops."""
    first = graph.first()
    if first is None:
        return []
    leads = graph.by_chapter()
    # Depth-first, iteratively (a long story must not exhaust Python's stack): a chapter
    # is finished once everything it leads to is; reaching a chapter still on the path
    # is a loop.
    seen, on_path, finished = {first.id}, {first.id}, []
    stack = [(first.id, iter(leads.get(first.id, [])))]
    while stack:
        chapter_id, pending = stack[-1]
        edge = next(pending, None)
        if edge is None:
            stack.pop()
            on_path.discard(chapter_id)
            finished.append(chapter_id)
            continue
        target = edge.next_chapter_id
        if target is None or target not in graph.chapters:
            continue
        if target in on_path:
            return None
        if target not in seen:
            seen.add(target)
            on_path.add(target)
            stack.append((target, iter(leads.get(target, []))))
    return list(reversed(finished))


def problems(graph: StoryGraph) -> list[str]:
    """What would stop a member playing the story through; empty if nothing."""
    found: list[str] = []
    first = graph.first()
    if first is None:
        return ["the story has no chapter 1 (where members start)"]
    leads = graph.by_chapter()
    for chapter_id in graph.chapters:
        if not leads.get(chapter_id):
            found.append(f"{_label(graph, chapter_id)} has no choices: members would be stuck")
    for edge in graph.choices:
        if edge.next_chapter_id is None and not edge.ending:
            found.append(f"choice {edge.text!r} leads nowhere: give it a next chapter or an ending")
        elif edge.next_chapter_id is not None and edge.next_chapter_id not in graph.chapters:
            found.append(f"choice {edge.text!r} leads to a chapter outside this story")
        elif edge.next_chapter_id == edge.chapter_id:
            found.append(f"choice {edge.text!r} leads back to its own chapter")
    # Reachability, breadth first from chapter 1.
    reached, queue = {first.id}, deque([first.id])
    while queue:
        for edge in leads.get(queue.popleft(), []):
            target = edge.next_chapter_id
            if target in graph.chapters and target not in reached:
                reached.add(target)
                queue.append(target)
    for chapter_id in graph.chapters:
        if chapter_id not in reached:
            found.append(f"{_label(graph, chapter_id)} is unreachable: no path from chapter 1")
    sequence = order(graph)
    if sequence is None:
        found.append("the story loops: a path comes back to a chapter already decided")
        return found
    found.extend(_level_problems(graph, sequence, leads))
    return found


def _level_problems(graph: StoryGraph, sequence: list[int], leads) -> list[str]:
    """For each character, the lowest and highest level a member can have on arriving at
    each chapter (exact extremes over all paths, in forward order); any choice taking
    either past the bounds is a problem."""
    found: list[str] = []
    for character_id, name in graph.characters.items():
        arrive: dict[int, tuple[int, int]] = {sequence[0]: (0, 0)} if sequence else {}
        for chapter_id in sequence:
            if chapter_id not in arrive:
                continue
            low, high = arrive[chapter_id]
            for edge in leads.get(chapter_id, []):
                delta = edge.impacts.get(character_id, 0)
                after = (low + delta, high + delta)
                if after[0] < LEVEL_MIN or after[1] > LEVEL_MAX:
                    found.append(
                        f"choice {edge.text!r} can take {name} to"
                        f" {after[0] if after[0] < LEVEL_MIN else after[1]}"
                        f" (levels stay within {LEVEL_MIN}..{LEVEL_MAX})"
                    )
                target = edge.next_chapter_id
                if target in graph.chapters:
                    seen = arrive.get(target)
                    arrive[target] = (
                        after if seen is None else (min(seen[0], after[0]), max(seen[1], after[1]))
                    )
    return found


@dataclass
class Placed:
    id: int
    column: int
    row: int


def layout(graph: StoryGraph) -> dict[int, Placed]:
    """Columns by the longest path from chapter 1 (so every choice points right), rows in
    chapter-number order within a column; unreachable chapters go in a last column."""
    sequence = order(graph) or []
    leads = graph.by_chapter()
    depth: dict[int, int] = {}
    for chapter_id in sequence:
        depth.setdefault(chapter_id, 0)
        for edge in leads.get(chapter_id, []):
            if edge.next_chapter_id in graph.chapters:
                depth[edge.next_chapter_id] = max(
                    depth.get(edge.next_chapter_id, 0), depth[chapter_id] + 1
                )
    last = max(depth.values(), default=-1) + 1
    rows: dict[int, int] = {}
    placed: dict[int, Placed] = {}
    for node in sorted(graph.chapters.values(), key=lambda n: n.number):
        column = depth.get(node.id, last)
        placed[node.id] = Placed(node.id, column, rows.get(column, 0))
        rows[column] = rows.get(column, 0) + 1
    return placed
