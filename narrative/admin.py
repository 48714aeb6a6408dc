"""Story editing: a story with its characters and chapters inline; a chapter with its
choices inline, each choice's impacts typed as `Mira +5, Theo -3`.

Every save is checked against the story graph as it would be after the save
(`narrative.graph.problems`): a published story must stay playable (every choice leads
somewhere, every chapter is reachable from chapter 1, no loops, levels within bounds), so
a save that would break it is refused with the problems listed; a draft saves and lists
what still stops it from being published. Changing where a choice leads or what it does to
characters, once members made that choice, asks first (tick "recompute members' state"),
then recomputes those members' progress and relationships from their decisions
(`rebuild_story`). Decisions, progress and relationships are read-only records here."""

from __future__ import annotations

import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils.html import format_html

from config.admin import ReadOnlyAdmin, requires
from narrative import actions, graph
from narrative.exceptions import NarrativeError
from narrative.models import (
    LEVEL_MAX,
    LEVEL_MIN,
    Chapter,
    Character,
    Choice,
    ChoiceImpact,
    Decision,
    Progress,
    Relationship,
    Story,
)

IMPACT = re.compile(r"\s*(?P<name>.+?)\s*(?P<delta>[+-]\s*\d+)\s*\Z")


def _problems_error(problems: list[str]) -> ValidationError:
    return ValidationError(
        ["This story is published and must stay playable:", *problems], code="unplayable"
    )


# --- a story: characters and chapters inline -----------------------------------------


class CharacterInline(admin.TabularInline):
    model = Character
    extra = 1
    fields = ["name", "description"]


class ChapterInlineFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        story = self.instance
        if any(self.errors) or not story.published:
            return
        shape = graph.load(story.pk) if story.pk else graph.StoryGraph(0, {}, [], {})
        for form in self.forms:
            if not form.has_changed() and form.instance.pk is None:
                continue
            data = form.cleaned_data
            if data.get("DELETE") and form.instance.pk:
                shape.chapters.pop(form.instance.pk, None)
            elif form.instance.pk:
                node = shape.chapters.get(form.instance.pk)
                if node is not None:
                    node.number, node.title = data["number"], data["title"]
            else:
                shape.chapters[-len(shape.chapters) - 1] = graph.ChapterNode(
                    id=-len(shape.chapters) - 1, number=data["number"], title=data["title"]
                )
        found = graph.problems(shape)
        if found:
            raise _problems_error(found)


class ChapterInline(admin.TabularInline):
    model = Chapter
    formset = ChapterInlineFormSet
    extra = 1
    fields = [
        "number",
        "title",
        "vip_only",
        "unlock_rule",
        "unlock_currency",
        "unlock_amount",
        "choices_link",
    ]
    readonly_fields = ["choices_link"]
    ordering = ["number"]

    @admin.display(description="choices")
    def choices_link(self, chapter: Chapter) -> str:
        if not chapter.pk:
            return "save first"
        return format_html(
            '<a href="{}">{} choice{}</a>',
            reverse("admin:narrative_chapter_change", args=[chapter.pk]),
            chapter.choices.count(),
            "" if chapter.choices.count() == 1 else "s",
        )


@admin.register(Story)
class StoryAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "published", "chapter_count", "decision_count", "map_link"]
    list_filter = ["published"]
    search_fields = ["title", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    inlines = [CharacterInline, ChapterInline]
    actions = ["check_playable", "rebuild_members"]
    has_rebuild_state_permission = requires("narrative.rebuild_state")

    @admin.display(description="chapters")
    def chapter_count(self, story: Story) -> int:
        return story.chapters.count()

    @admin.display(description="decisions")
    def decision_count(self, story: Story) -> int:
        return story.decisions.count()

    @admin.display(description="map")
    def map_link(self, story: Story) -> str:
        return format_html(
            '<a href="{}">story map</a>', reverse("dashboard:story", args=[story.pk])
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        story = form.instance
        actions.record_story_change(story, actor=request.user)
        if not story.published:
            found = actions.check_story(story)
            if found:
                messages.warning(request, "Not ready to publish: " + "; ".join(found))

    @admin.action(description="Check that the selected stories can be played through")
    def check_playable(self, request, queryset):
        for story in queryset:
            found = actions.check_story(story)
            if found:
                messages.warning(request, f"{story}: " + "; ".join(found))
            else:
                messages.success(request, f"{story}: playable.")

    @admin.action(
        description="Recompute members' progress and relationships from decisions",
        permissions=["rebuild_state"],
    )
    def rebuild_members(self, request, queryset):
        for story in queryset:
            try:
                done = actions.rebuild_story(story, actor=request.user)
            except NarrativeError as error:
                messages.error(request, f"{story}: {error}")
                continue
            messages.success(
                request,
                f"{story}: {done.progress_fixed} progress rows and"
                f" {done.relationships_fixed} relationships fixed.",
            )


# --- a chapter: its choices inline, impacts typed as text ---------------------------------


class ChoiceForm(forms.ModelForm):
    impacts = forms.CharField(
        required=False,
        help_text=f"How characters' feelings change, e.g. “Mira +5, Theo -3” ({LEVEL_MIN * 2}"
        f"..{LEVEL_MAX * 2} each).",
    )

    class Meta:
        model = Choice
        fields = ["position", "text", "next_chapter", "ending", "reward", "impacts"]

    def __init__(self, *args, story: Story | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.story = story
        if story is not None:
            self.fields["next_chapter"].queryset = Chapter.objects.filter(story=story)
        if self.instance.pk:
            self.initial["impacts"] = ", ".join(
                f"{i.character.name} {i.delta:+d}"
                for i in self.instance.impacts.select_related("character").order_by(
                    "character__name"
                )
            )

    def clean_impacts(self) -> dict[int, int]:
        text = self.cleaned_data.get("impacts") or ""
        cast = dict(Character.objects.filter(story=self.story).values_list("name", "pk"))
        found: dict[int, int] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            match = IMPACT.match(part)
            if not match:
                raise ValidationError(f"“{part}”: write a character and a change, e.g. Mira +5")
            name, delta = match["name"], int(match["delta"].replace(" ", ""))
            if name not in cast:
                raise ValidationError(f"“{name}” is not a character of this story")
            if cast[name] in found:
                raise ValidationError(f"{name} is named twice")
            if delta == 0 or abs(delta) > LEVEL_MAX - LEVEL_MIN:
                raise ValidationError(f"{name}: a change is non-zero, at most {LEVEL_MAX * 2}")
            found[cast[name]] = delta
        return found

    def clean(self):
        data = super().clean()
        if data.get("next_chapter") is None and not (data.get("ending") or "").strip():
            raise ValidationError("Give the choice a next chapter, or an ending's title.")
        if data.get("next_chapter") is not None and (data.get("ending") or "").strip():
            raise ValidationError("A choice leads to a next chapter or ends the story, not both.")
        return data

    def save(self, commit=True):
        choice = super().save(commit=commit)
        if commit:
            wanted = self.cleaned_data.get("impacts") or {}
            have = {i.character_id: i for i in choice.impacts.all()}
            for character_id, impact in have.items():
                if character_id not in wanted:
                    impact.delete()
                elif impact.delta != wanted[character_id]:
                    ChoiceImpact.objects.filter(pk=impact.pk).update(delta=wanted[character_id])
            for character_id, delta in wanted.items():
                if character_id not in have:
                    ChoiceImpact.objects.create(
                        choice=choice, character_id=character_id, delta=delta
                    )
        return choice


class ChoiceInlineFormSet(forms.BaseInlineFormSet):
    rebuild = False

    @property
    def story(self) -> Story | None:
        return getattr(self.instance, "story", None)  # None on an add page before the story

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "story": self.story}

    @property
    def empty_form(self):
        form = self.form(
            auto_id=self.auto_id,
            prefix=self.add_prefix("__prefix__"),
            empty_permitted=True,
            use_required_attribute=False,
            story=self.story,
        )
        self.add_fields(form, None)
        return form

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        chapter, story = self.instance, self.story
        if story is None:
            return
        here = chapter.pk or -1  # a chapter being added is not in the graph yet
        edges = []
        changed: list[int] = []
        for form in self.forms:
            data = form.cleaned_data
            if not data:
                continue
            if data.get("DELETE"):
                continue
            moved = {"next_chapter", "ending"} & set(form.changed_data)
            if (
                form.instance.pk
                and moved
                and _path_changed(form.initial.get("next_chapter"), data)
                and Decision.objects.filter(choice=form.instance).exists()
            ):
                raise ValidationError(
                    f"Members made “{form.instance.text}”: where it leads stays as it is"
                    " (their progress followed it). Add a new choice instead."
                )
            if form.instance.pk and "impacts" in form.changed_data:
                changed.append(form.instance.pk)
            nxt = data.get("next_chapter")
            edges.append(
                graph.Edge(
                    id=form.instance.pk,
                    chapter_id=here,
                    text=data.get("text", ""),
                    next_chapter_id=nxt.pk if nxt else None,
                    ending=(data.get("ending") or "").strip(),
                    reward=data.get("reward") or 0,
                    impacts=data.get("impacts") or {},
                )
            )
        shape = graph.load(story.pk)
        # The chapter as its form has it (a new number or title counts too).
        shape.chapters[here] = graph.ChapterNode(here, chapter.number, chapter.title)
        shape = shape.replace_choices(here, edges)
        if story.published:
            found = graph.problems(shape)
            if found:
                raise _problems_error(found)
        played = Decision.objects.filter(choice__in=changed).count() if changed else 0
        if played:
            if not self.data.get("confirm_rebuild"):
                raise ValidationError(
                    f"Members made {played} decision{'s' if played != 1 else ''} with the"
                    " choices whose impacts you changed. Tick “recompute members' state” to"
                    " save and recompute their relationships from their decisions."
                )
            beyond = _members_beyond_bounds(story.pk, shape)
            if beyond:
                raise ValidationError(
                    f"With these impacts {beyond} member{'s' if beyond != 1 else ''}'"
                    f" relationships would leave {LEVEL_MIN}..{LEVEL_MAX}: change them less."
                )
            self.rebuild = True


def _path_changed(was: int | None, data: dict) -> bool:
    """Whether the form points the choice elsewhere than the chapter (id) it led to, or
    between ending and chapter (an ending's title may change)."""
    target = data.get("next_chapter")
    return (target.pk if target else None) != was


def _members_beyond_bounds(story_id: int, shape: graph.StoryGraph) -> int:
    """How many members' levels, recomputed with `shape`'s impacts over their decisions,
    would leave the bounds (the rebuild would be refused)."""
    impacts = {edge.id: edge.impacts for edge in shape.choices if edge.id is not None}
    sums: dict[tuple[int, int], int] = {}
    for member_id, choice_id in Decision.objects.filter(story_id=story_id).values_list(
        "member_id", "choice_id"
    ):
        for character_id, delta in impacts.get(choice_id, {}).items():
            key = (member_id, character_id)
            sums[key] = sums.get(key, 0) + delta
    return len({m for (m, _), level in sums.items() if not LEVEL_MIN <= level <= LEVEL_MAX})


class ChoiceInline(admin.StackedInline):
    model = Choice
    form = ChoiceForm
    formset = ChoiceInlineFormSet
    extra = 1
    fk_name = "chapter"


class ChapterForm(forms.ModelForm):
    confirm_rebuild = forms.BooleanField(
        required=False,
        label="Recompute members' state",
        help_text="Needed when you change where a choice members already made leads, or"
        " what it does to characters: their progress and relationships are recomputed"
        " from their decisions.",
    )

    class Meta:
        model = Chapter
        fields = [
            "story",
            "number",
            "title",
            "content",
            "vip_only",
            "unlock_rule",
            "unlock_currency",
            "unlock_amount",
        ]


@admin.register(Chapter)
class ChapterAdmin(admin.ModelAdmin):
    form = ChapterForm
    list_display = ["__str__", "story", "vip_only", "unlock_rule"]
    list_filter = ["story"]
    inlines = [ChoiceInline]
    fields = [*ChapterForm.Meta.fields, "confirm_rebuild"]

    def get_readonly_fields(self, request, obj=None):
        return ["story"] if obj else []

    def has_delete_permission(self, request, obj=None):
        """A published story's chapters stay (unpublish it first, or edit the chapter)."""
        if obj is not None and obj.story.published:
            return False
        return super().has_delete_permission(request, obj)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        chapter = form.instance
        if any(getattr(f, "rebuild", False) for f in formsets):
            if not request.user.has_perm("narrative.rebuild_state"):
                raise PermissionDenied("recomputing members' state needs narrative.rebuild_state")
            try:
                done = actions.rebuild_story(chapter.story, actor=request.user)
            except NarrativeError as error:
                raise ValidationError(str(error)) from error
            messages.success(
                request,
                f"Recomputed from decisions: {done.progress_fixed} progress rows and"
                f" {done.relationships_fixed} relationships changed.",
            )
        actions.record_story_change(chapter.story, actor=request.user)
        if not chapter.story.published:
            found = actions.check_story(chapter.story)
            if found:
                messages.warning(request, "Not ready to publish: " + "; ".join(found))


# --- the records members make (read-only) --------------------------------------------


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "member", "story", "chapter", "choice", "reward"]
    list_filter = ["story"]
    search_fields = ["member__display_name", "=member__pk"]
    list_select_related = ["member", "story", "chapter", "choice"]


@admin.register(Progress)
class ProgressAdmin(ReadOnlyAdmin):
    list_display = ["member", "story", "chapter", "status", "started_at", "completed_at"]
    list_filter = ["story", "status"]
    search_fields = ["=member__pk"]
    list_select_related = ["member", "story", "chapter"]


@admin.register(Relationship)
class RelationshipAdmin(ReadOnlyAdmin):
    list_display = ["member", "character", "level", "updated_at"]
    list_filter = ["character__story"]
    search_fields = ["=member__pk", "character__name"]
    list_select_related = ["member", "character"]
