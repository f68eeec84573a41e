from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def image_search(request: HttpRequest) -> HttpResponse:
    return render(request, "search/results.html", {})


def photo_search(request: HttpRequest) -> HttpResponse:
    return render(request, "search/results.html", {})


def similar_words(request: HttpRequest) -> HttpResponse:
    return render(request, "search/results.html", {})
