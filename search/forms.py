"""Forms that parse the search pages' input into the arguments of the search.modes functions."""

from __future__ import annotations

import base64
import re

from django import forms
from django.conf import settings
from PIL import Image as PILImage

from catalog.models import Category
from catalog.pagination import Pager
from ml.imagenet import CLASS_NAMES, check_class_index, matching_classes
from ml.images import InvalidImage, crop_to_box, open_query_photo, read_upload, thumbnail_jpeg
from ml.meaning import classes_named
from search import modes

# "281", "tabby (281)" or a class name.
_INDEX_IN_TEXT = re.compile(r"^(?:.*\()?\s*(\d+)\s*\)?$")
_SLUG = re.compile(r"[-\w]+")
# A region of the photo: "left,top,right,bottom" as fractions of its width and height.
_BOX = re.compile(r"^\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*$")


class FocusClassField(forms.Field):
    """An ImageNet class, typed as its name ("tabby"), as any word that names classes ("cat": the
    one of them likeliest in the photo, see `class_scores`), or as its index ("281", "tabby (281)")."""

    class_scores: dict[int, float] = {}  # the searched photo's class probabilities, when known

    def to_python(self, value) -> int | None:
        text = str(value or "").strip()
        if not text:
            return None
        if len(text) > 200:
            raise forms.ValidationError("That is too long for a class name.")
        match = _INDEX_IN_TEXT.match(text)
        if match:
            try:
                return check_class_index(int(match[1]))
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from None
        exact = [i for i, name in enumerate(CLASS_NAMES) if name.lower() == text.lower()]
        if exact:
            return exact[0]
        named = classes_named(text)
        if named:
            return max(named, key=lambda index: self.class_scores.get(index, 0.0))  # first on a tie
        found = matching_classes(text, limit=1)
        if not found:
            raise forms.ValidationError(f"No ImageNet class is called “{text}”.")
        return found[0][0]


class CategoryField(forms.ModelChoiceField):
    """A category by slug; text that no slug can be (a NUL byte, which PostgreSQL refuses to
    compare) is simply not one of the choices."""

    def to_python(self, value):
        if value and not _SLUG.fullmatch(str(value)):
            raise forms.ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)


class FiltersForm(forms.Form):
    category = CategoryField(
        queryset=Category.objects.all(), to_field_name="slug", required=False, empty_label="All categories"
    )
    k = forms.IntegerField(label="Results", min_value=1, required=False)
    min_score = forms.FloatField(label="Minimum score", min_value=-1, max_value=1, required=False)
    page = forms.IntegerField(min_value=1, required=False)

    paged = True  # results come in numbered pages (false where the query cannot be a link: a photo)

    def filters(self, default_k: int = 24) -> modes.Filters:
        data = self.cleaned_data
        k = min(data.get("k") or default_k, settings.SEARCH_MAX_K)
        return modes.Filters(
            k=k,
            category=data.get("category"),
            min_score=data.get("min_score"),
            offset=(self.page_number() - 1) * k,
            lookahead=2 * k + 1 if self.paged else 0,
        )

    def page_number(self) -> int:
        """The page asked for, within the depth the pages go to."""
        k = min(self.cleaned_data.get("k") or 24, settings.SEARCH_MAX_K)
        return min(self.cleaned_data.get("page") or 1, max(1, settings.SEARCH_MAX_DEPTH // k))

    def pager(self, results: modes.ImageResults | None) -> Pager | None:
        if not self.paged or results is None or not results.hits:
            return None
        filters = self.filters()
        return Pager.for_ranking(self.page_number(), filters.k, results.following, filters.lookahead)


class WordSearchForm(FiltersForm):
    q = forms.CharField(label="Words", max_length=500, required=False, strip=True)
    match = forms.ChoiceField(label="Match", choices=modes.Match.choices, required=False)
    # "Search instead for ...": the words as typed, without respelling them.
    as_typed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    field_order = ["q", "match", "category", "k", "min_score"]

    def match_mode(self) -> str:
        return self.cleaned_data.get("match") or modes.Match.HYBRID


class FocusForm(FiltersForm):
    focus_class = FocusClassField(label="Focus on", required=False)
    similarity = forms.ChoiceField(
        label="Compare by",
        choices=modes.Similarity.choices,
        required=False,
        initial=modes.Similarity.BLEND,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, class_scores: dict[int, float] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["focus_class"].class_scores = class_scores or {}

    def similarity_mode(self) -> str:
        return self.cleaned_data.get("similarity") or modes.Similarity.BLEND

    def focus_text(self, results: modes.ImageResults | None) -> str:
        """What the focus input shows again: the words typed, or the name of the class given by number."""
        if results is None or results.focus_class is None:
            return ""
        typed = str(self.data.get("focus_class", "")).strip()
        return typed if typed and not _INDEX_IN_TEXT.match(typed) else CLASS_NAMES[results.focus_class]


class PhotoSearchForm(FocusForm):
    paged = False

    file = forms.FileField(label="Photo", widget=forms.ClearableFileInput(attrs={"accept": "image/*,.heic,.heif"}))
    box = forms.CharField(required=False, widget=forms.HiddenInput, max_length=100)

    field_order = ["file", "box", "similarity", "category", "focus_class", "k", "min_score"]

    def clean_file(self) -> PILImage.Image:
        """The decoded photo (nothing is stored): the size limit, then the one image opener."""
        upload = self.cleaned_data["file"]
        try:
            return open_query_photo(
                read_upload(upload, max_bytes=settings.MAX_UPLOAD_BYTES),
                max_pixels=settings.PHOTO_SEARCH_MAX_PIXELS,
                concurrent=settings.PHOTO_DECODE_CONCURRENCY,
            )
        except InvalidImage as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self) -> dict:
        """Search by the region drawn on the photo, when there is one (the crop happens here, on
        the decoded photo, so that no client-side resampling changes what the encoder sees)."""
        data = super().clean()
        box_text, picture = data.get("box") or "", data.get("file")
        if box_text and picture is not None:
            match = _BOX.match(box_text)
            if not match:
                self.add_error("box", "The box is not four numbers: left, top, right, bottom.")
                return data
            try:
                data["file"] = crop_to_box(picture, tuple(float(v) for v in match.groups()))
            except (InvalidImage, ValueError) as exc:
                self.add_error("box", str(exc))
        return data

    def query_preview(self) -> str:
        """The photo (or its region) searched by, as a small inline JPEG to show beside the
        results: nothing is stored, so there is no address to link."""
        picture = self.cleaned_data["file"]
        return "data:image/jpeg;base64," + base64.b64encode(thumbnail_jpeg(picture, size=320, quality=80)).decode()


class SimilarWordsForm(forms.Form):
    q = forms.CharField(label="Word", max_length=500, required=False, strip=True)
    k = forms.IntegerField(label="How many", min_value=1, max_value=100, required=False)
