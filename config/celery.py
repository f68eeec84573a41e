import os

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("catalogue")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

_heartbeat = None


@worker_ready.connect
def start_heartbeat(sender, **kwargs) -> None:
    """Let /healthz see this worker (config/health.py)."""
    global _heartbeat
    from config.health import Heartbeat

    _heartbeat = Heartbeat(sender.hostname)
    _heartbeat.start()


@worker_shutdown.connect
def stop_heartbeat(sender, **kwargs) -> None:
    if _heartbeat is not None:
        _heartbeat.stop()
