"""Signal wiring only: copies the change context onto each history row as it is created."""

from django.dispatch import receiver
from simple_history.signals import pre_create_historical_record


@receiver(pre_create_historical_record)
def stamp_history_source(sender, instance, history_instance, **kwargs) -> None:
    source = getattr(instance, "_history_source", None)
    if source is not None and hasattr(history_instance, "history_source_id"):
        history_instance.history_source_id = getattr(source, "pk", source)
