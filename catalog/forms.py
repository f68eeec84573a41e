from __future__ import annotations

from django import forms

from catalog.models import Category


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)]


class ImageUploadForm(forms.Form):
    """Upload one or many images into a category (existing, or new by name)."""

    files = MultipleImageField(label="Images", widget=MultipleFileInput(attrs={"accept": "image/*", "multiple": True}))
    category = forms.ModelChoiceField(queryset=Category.objects.all(), required=False)
    new_category = forms.CharField(max_length=120, required=False, help_text="Or create a category by name.")
    title = forms.CharField(max_length=200, required=False, help_text="For a single file; defaults to the file name.")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def titles(self) -> list[str]:
        """A title per file, in the files' order, from the upload page's per-file inputs."""
        return [title[:200] for title in self.data.getlist("titles")] if hasattr(self.data, "getlist") else []

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("category") and not (cleaned.get("new_category") or "").strip():
            raise forms.ValidationError("Choose a category or name a new one.")
        return cleaned
