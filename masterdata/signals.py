"""Signal wiring: copies the change context onto each history row; announces outbox events.

``outbox_written`` is sent (``event_ids``: the new events' ids, empty when a bulk write did not
learn them) whenever change events are written, inside the writing transaction. The connectors
app listens to dispatch them once that transaction commits; masterdata knows nothing of it.
"""

from django.dispatch import Signal, receiver
from simple_history.signals import pre_create_historical_record

outbox_written = Signal()


@receiver(pre_create_historical_record)
def stamp_history_source(sender, instance, history_instance, **kwargs) -> None:
    source = getattr(instance, "_history_source", None)
    if source is not None and hasattr(history_instance, "history_source_id"):
        history_instance.history_source_id = getattr(source, "pk", source)
