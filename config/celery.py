import os

from celery import Celery
from celery.signals import worker_process_init, worker_ready, worker_shutdown
from threadpoolctl import threadpool_limits

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("catalogue")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

_heartbeat = None


@worker_process_init.connect
def one_blas_thread(**kwargs) -> None:
    """One BLAS thread per worker process: the worker runs a process per core, and OpenBLAS's
    own threads (the tag vocabulary's 50k-row products) spun against the other processes; on the
    dev photos a process spent 19 CPU ms an image instead of 27 (ENCODER_THREADS sets the encoder's)."""
    threadpool_limits(limits=1, user_api="blas")


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
