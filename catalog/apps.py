from django.apps import AppConfig
from django.db.models.signals import post_delete


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalogue"

    def ready(self) -> None:
        from catalog import files
        from catalog.models import Image

        post_delete.connect(files.image_deleted, sender=Image, dispatch_uid="catalog.image_files")
