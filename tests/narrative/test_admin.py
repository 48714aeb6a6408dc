"""Story editing in admin: chapters, choices and impacts inline; a published story stays
playable; editing what members already chose asks first, then recomputes their state."""

from __future__ import annotations

import pytest

from integrity.registry import all_checks
from integrity.runner import run_checks
from narrative.actions import create_story, make_choice, start_story
from narrative.models import Chapter, Choice, ChoiceImpact, Relationship, Story

pytestmark = pytest.mark.django_db


def posted(response) -> dict:
    """What a browser would post back from an admin change page, unchanged: the main
    form's fields and every inline form's, with the management forms."""
    data: dict = {}

    def add(form):
        for bound in form:
            value = bound.value()
            if isinstance(value, bool):
                if value:
                    data[bound.html_name] = "on"
            elif value is not None:
                data[bound.html_name] = value.pk if hasattr(value, "pk") else value

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        add(formset.management_form)
        for form in formset.forms:
            add(form)
    return data


def chapter_page(admin_client, chapter: Chapter):
    url = f"/admin/narrative/chapter/{chapter.pk}/change/"
    return url, admin_client.get(url)


def choice_prefix(response, choice: Choice) -> str:
    formset = response.context["inline_admin_formsets"][0].formset
    return next(f.prefix for f in formset.forms if f.instance.pk == choice.pk)


def test_story_and_chapter_pages_show_their_inlines(admin_client, story):
    page = admin_client.get(f"/admin/narrative/story/{story.pk}/change/").content.decode()
    assert "Harbour Master" in page
    assert "The sailor" in page  # a chapter title, inline
    first = Chapter.objects.get(story=story, number=1)
    _url, response = chapter_page(admin_client, first)
    page = response.content.decode()
    assert "Row out to the wreck" in page
    assert 'value="Mira +10"' in page  # impacts typed as text


def test_impacts_typed_as_text_are_saved(admin_client, story, choice):
    row_out = choice("Row out to the wreck")
    url, response = chapter_page(admin_client, row_out.chapter)
    data = posted(response)
    data[f"{choice_prefix(response, row_out)}-impacts"] = "Mira +12, Theo -3"

    saved = admin_client.post(url, data)

    assert saved.status_code == 302, saved.content.decode()[:2000]
    assert dict(
        ChoiceImpact.objects.filter(choice=row_out).values_list("character__name", "delta")
    ) == {"Mira": 12, "Theo": -3}


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("Nobody +3", "is not a character of this story"),
        ("Mira", "write a character and a change"),
        ("Mira +0", "non-zero"),
        ("Mira +1, Mira +2", "named twice"),
    ],
)
def test_malformed_impacts_are_refused_and_nothing_changes(
    admin_client, story, choice, typed, says
):
    row_out = choice("Row out to the wreck")
    url, response = chapter_page(admin_client, row_out.chapter)
    data = posted(response)
    data[f"{choice_prefix(response, row_out)}-impacts"] = typed

    refused = admin_client.post(url, data)

    assert refused.status_code == 200
    assert says in refused.content.decode()
    assert ChoiceImpact.objects.get(choice=row_out).delta == 10


def test_a_published_story_cannot_be_edited_into_a_loop(admin_client, story, choice):
    save = choice("Save the sailor")  # chapter 2 -> 4; point it back at chapter 1
    url, response = chapter_page(admin_client, save.chapter)
    data = posted(response)
    data[f"{choice_prefix(response, save)}-next_chapter"] = Chapter.objects.get(
        story=story, number=1
    ).pk

    refused = admin_client.post(url, data)

    assert refused.status_code == 200
    assert "must stay playable" in refused.content.decode()
    assert "loops" in refused.content.decode()
    assert Choice.objects.get(pk=save.pk).next_chapter.number == 4


def test_publishing_an_unplayable_story_is_refused_with_its_problems(admin_client):
    draft = create_story(
        title="Draft",
        slug="draft",
        chapters=[
            {"number": 1, "title": "One", "choices": [{"text": "End", "ending": "E"}]},
            {"number": 2, "title": "Lost", "choices": [{"text": "End", "ending": "E"}]},
        ],
    )
    url = f"/admin/narrative/story/{draft.pk}/change/"
    data = posted(admin_client.get(url))
    data["published"] = "on"

    refused = admin_client.post(url, data)

    assert refused.status_code == 200
    assert "chapter 2 (Lost) is unreachable" in refused.content.decode()
    assert not Story.objects.get(pk=draft.pk).published


def test_changing_a_played_choice_asks_first_then_recomputes_members(
    admin_client, story, reader, choice
):
    start_story(reader, story)
    row_out = choice("Row out to the wreck")
    make_choice(reader, row_out)
    url, response = chapter_page(admin_client, row_out.chapter)
    data = posted(response)
    data[f"{choice_prefix(response, row_out)}-impacts"] = "Mira +20"

    asked = admin_client.post(url, data)

    assert asked.status_code == 200
    assert "recompute members" in asked.content.decode()
    assert Relationship.objects.get(member=reader).level == 10

    data["confirm_rebuild"] = "on"
    saved = admin_client.post(url, data)

    assert saved.status_code == 302, saved.content.decode()[:2000]
    assert Relationship.objects.get(member=reader).level == 20
    names = [c.name for c in all_checks() if c.name.startswith("narrative.")]
    assert run_checks(names).ok


def test_decisions_progress_and_relationships_are_read_only(admin_client, story, reader, choice):
    start_story(reader, story)
    make_choice(reader, choice("Row out to the wreck"))
    for model in ("decision", "progress", "relationship"):
        assert admin_client.get(f"/admin/narrative/{model}/").status_code == 200
        assert admin_client.get(f"/admin/narrative/{model}/add/").status_code == 403


def test_renumbering_chapter_one_of_a_published_story_is_refused(admin_client, story):
    first = Chapter.objects.get(story=story, number=1)
    url, response = chapter_page(admin_client, first)
    data = posted(response)
    data["number"] = 9

    refused = admin_client.post(url, data)

    assert refused.status_code == 200
    assert "the story has no chapter 1" in refused.content.decode()
    assert Chapter.objects.get(pk=first.pk).number == 1


def test_a_published_storys_chapters_cannot_be_deleted(admin_client, story):
    first = Chapter.objects.get(story=story, number=1)
    response = admin_client.post(f"/admin/narrative/chapter/{first.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Chapter.objects.filter(pk=first.pk).exists()


def test_where_a_played_choice_leads_cannot_change_in_admin(admin_client, story, reader, choice):
    start_story(reader, story)
    row_out = choice("Row out to the wreck")
    make_choice(reader, row_out)
    url, response = chapter_page(admin_client, row_out.chapter)
    data = posted(response)
    data[f"{choice_prefix(response, row_out)}-next_chapter"] = Chapter.objects.get(
        story=story, number=3
    ).pk
    data["confirm_rebuild"] = "on"

    refused = admin_client.post(url, data)

    assert refused.status_code == 200
    assert "where it leads stays as it is" in refused.content.decode()
    assert Choice.objects.get(pk=row_out.pk).next_chapter.number == 2


def test_impacts_that_would_take_players_out_of_range_are_refused_not_a_500(
    admin_client, story, reader, choice
):
    start_story(reader, story)
    row_out = choice("Row out to the wreck")
    make_choice(reader, row_out)
    Story.objects.filter(pk=story.pk).update(published=False)  # past the graph check
    url, response = chapter_page(admin_client, row_out.chapter)
    data = posted(response)
    data[f"{choice_prefix(response, row_out)}-impacts"] = "Mira +150"
    data["confirm_rebuild"] = "on"

    refused = admin_client.post(url, data)

    assert refused.status_code == 200
    assert "relationships would leave -100..100" in refused.content.decode()
    assert Relationship.objects.get(member=reader).level == 10


def test_a_character_name_with_a_comma_is_refused_in_admin(admin_client, story):
    url = f"/admin/narrative/story/{story.pk}/change/"
    response = admin_client.get(url)
    data = posted(response)
    prefix = response.context["inline_admin_formsets"][0].formset.prefix
    extra = int(data[f"{prefix}-INITIAL_FORMS"])
    data[f"{prefix}-{extra}-name"] = "Smith, John"

    refused = admin_client.post(url, data)

    assert refused.status_code == 200
    assert "has no commas" in refused.content.decode()


def test_saving_a_story_in_admin_tells_open_maps(admin_client, story):
    from events.models import Event

    url = f"/admin/narrative/story/{story.pk}/change/"
    data = posted(admin_client.get(url))
    data["description"] = "Retold."
    assert admin_client.post(url, data).status_code == 302
    changed = Event.objects.get(kind="narrative.story_changed")
    assert changed.data["story_id"] == story.pk
