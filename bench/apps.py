from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Benchmark commands and development measurements: no runtime app imports this one."""

    name = "bench"
    verbose_name = "Benchmarks"
