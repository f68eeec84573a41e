from django.urls import path

from search import views

app_name = "search"
urlpatterns = [
    path("", views.image_search, name="images"),
    path("photo/", views.photo_search, name="photo"),
    path("words/", views.similar_words, name="words"),
]
