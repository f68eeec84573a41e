"""The search pages: each parses its input with a form, calls one search.modes function and renders.

They work without JavaScript; with htmx, requests made by htmx get only the results partial.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_http_methods

from catalog import trail
from catalog.htmx import wants_partial
from catalog.pagination import query_without_page
from catalog.selectors import images_visible_to
from ml.imagenet import matching_classes
from ml.images import FORMAT_NAMES
from ml.meaning import names_starting
from search import modes, selectors
from search.forms import FocusForm, PhotoSearchForm, SimilarWordsForm, WordSearchForm
from search.parsing import QueryError
from search.throttles import FocusSearchThrottle, PhotoSearchThrottle, SearchThrottle, throttle_page
from spaces import selectors as spaces_selectors
from spaces.models import EmbeddingSpace

RESULTS_PARTIAL = "search/_results.html"
SIMILAR_PREVIEW = "similar-preview"  # the id of the item page's similar items (templates/search/_item_annotations.html)


def form_errors(form) -> str:
    return " ".join(str(message) for errors in form.errors.values() for message in errors)


def render_search(request: HttpRequest, template: str, context: dict, partial: str = RESULTS_PARTIAL) -> HttpResponse:
    """The page, or its results partial for htmx; 400 when the query could not be answered."""
    status = 400 if context.get("error") else 200
    results = context.get("results")
    # The item page's own preview of similar items is not where a visitor came from.
    if results is not None and request.method == "GET" and request.htmx.target != SIMILAR_PREVIEW:
        trail.remember(request.session, (hit.image.pk for hit in results.hits), request.get_full_path())
    return render(request, partial if wants_partial(request) else template, context, status=status)


def answer_words(form, search):
    """(results, error) for a form with a `q` field: nothing to do while `q` is empty."""
    if not form.is_valid():
        return None, form_errors(form)
    if not form.cleaned_data["q"]:
        return None, None
    try:
        return search(form.cleaned_data["q"]), None
    except QueryError as exc:
        return None, str(exc)


@require_GET
@throttle_page(SearchThrottle)
def image_search(request: HttpRequest) -> HttpResponse:
    """Words to images: /search/?q=cat+sofa&category=&k=&min_score="""
    form = WordSearchForm(request.GET)
    results, error = answer_words(
        form,
        lambda q: modes.images_for_words(q, form.filters(), form.match_mode(), as_typed=form.cleaned_data["as_typed"]),
    )
    context = {
        "form": form,
        "results": results,
        "error": error,
        "query_text": form.data.get("q", ""),
        "pager": form.pager(results) if results else None,
        "pager_query": query_without_page(request.GET),
    }
    return render_search(request, "search/images.html", context)


@require_http_methods(["GET", "POST"])
@throttle_page(PhotoSearchThrottle, FocusSearchThrottle)
def photo_search(request: HttpRequest) -> HttpResponse:
    """Search by photo: GET shows the form, POST (multipart) runs the search. The photo is not kept."""
    results, error, query_photo = None, None, None
    if request.method == "POST":
        form = PhotoSearchForm(request.POST, request.FILES)
        if not form.is_valid():
            error = form_errors(form)
        else:
            query_photo = form.query_preview()
            try:
                results = modes.similar_to_photo(
                    form.cleaned_data["file"],
                    form.filters(),
                    focus_class=form.cleaned_data["focus_class"],
                    similarity=form.similarity_mode(),
                )
            except QueryError as exc:
                error = str(exc)
    else:
        form = PhotoSearchForm()
    context = {
        "form": form,
        "results": results,
        "error": error,
        "focus_text": form.focus_text(results),
        "query_photo": query_photo,
        "region": bool(form.is_bound and form.cleaned_data.get("box")) if query_photo else False,
        "formats": FORMAT_NAMES,
    }
    return render_search(request, "search/photo.html", context, partial="search/_photo_results.html")


@require_GET
@throttle_page(SearchThrottle, FocusSearchThrottle)
def similar_items(request: HttpRequest, pk: int) -> HttpResponse:
    """More like this: /search/similar/<pk>/?focus_class=&category=&k="""
    image = get_object_or_404(images_visible_to(request.user), pk=pk)
    form = FocusForm(request.GET, class_scores={c["index"]: c["probability"] for c in image.classes})
    results, error = None, None
    if not form.is_valid():
        error = form_errors(form)
    else:
        try:
            results = modes.similar_items(
                image, form.filters(), focus_class=form.cleaned_data["focus_class"], similarity=form.similarity_mode()
            )
        except QueryError as exc:
            error = str(exc)
    context = {
        "image": image,
        "form": form,
        "results": results,
        "error": error,
        "focus_class": results.focus_class if results else None,
        "focus_text": form.focus_text(results),
        "top_classes": image.classes[:5],
        "similarity_choices": modes.Similarity.choices,
        "pager": form.pager(results) if results else None,
        "pager_query": query_without_page(request.GET),
    }
    return render_search(request, "search/similar.html", context)


@require_GET
def class_options(request: HttpRequest) -> HttpResponse:
    """Suggestions for the focus input: words that name kinds of things ("cat"), then class names."""
    text = (request.GET.get("q") or request.GET.get("focus_class") or "")[:100]
    kinds = names_starting(text, limit=8)
    options = kinds + [name for _, name in matching_classes(text, limit=20) if name.lower() not in kinds]
    return render(request, "search/_options.html", {"options": options})


@require_GET
def suggest(request: HttpRequest) -> HttpResponse:
    """As-you-type suggestions for the search box: <option> elements for its <datalist>."""
    word_space = spaces_selectors.serving_spaces().get(EmbeddingSpace.Kind.WORD)
    options = selectors.suggestions(word_space, request.GET.get("q", "")[:100])
    return render(request, "search/_options.html", {"options": options})


@require_GET
@throttle_page(SearchThrottle)
def similar_words(request: HttpRequest) -> HttpResponse:
    """Nearest words: /search/words/?q=said"""
    form = SimilarWordsForm(request.GET)
    results, error = answer_words(form, lambda q: modes.similar_words(q, k=form.cleaned_data["k"] or 10))
    context = {"form": form, "results": results, "error": error}
    status = 400 if error else 200
    template = "search/_word_results.html" if wants_partial(request) else "search/words.html"
    return render(request, template, context, status=status)
