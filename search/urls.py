from django.urls import path

from search import views

app_name = "search"
urlpatterns = [
    path("", views.image_search, name="images"),
    path("photo/", views.photo_search, name="photo"),
    path("similar/<int:pk>/", views.similar_items, name="similar"),
    path("classes/", views.class_options, name="classes"),
    path("words/", views.similar_words, name="words"),
    path("suggest/", views.suggest, name="suggest"),
]
