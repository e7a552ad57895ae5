"""Admin of outbound sync: push targets (pause, resume, replay), their deliveries, webhook subscriptions.

Deliveries are a record (read-only); parked ones are handled in the failure queue. Pausing and
resuming go through :mod:`connectors.services.decisions`, which audits them with a reason.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q

from connectors.admin.connection import KEEP_HELP, secret_status
from connectors.models import Delivery, DeliveryStatus, PushTarget, WebhookDelivery, WebhookSubscription
from connectors.services import decisions, dispatch


@admin.register(PushTarget)
class PushTargetAdmin(admin.ModelAdmin):
    list_display = ("__str__", "resource", "paused", "pending", "dead", "updated_at")
    list_filter = ("paused", "domain", "source")
    list_select_related = ("source",)
    readonly_fields = ("paused", "paused_at", "paused_reason", "leased_until", "created_at", "updated_at")
    actions = ["pause", "resume", "replay_everything"]

    def get_queryset(self, request):
        # Counted in the list query itself: one query per page, not two per row.
        return (
            super()
            .get_queryset(request)
            .annotate(
                pending_count=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.PENDING)),
                dead_count=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.DEAD)),
            )
        )

    @admin.display(description="pending", ordering="pending_count")
    def pending(self, obj: PushTarget) -> int:
        return obj.pending_count

    @admin.display(description="dead letters", ordering="dead_count")
    def dead(self, obj: PushTarget) -> int:
        return obj.dead_count

    def has_control_permission(self, request) -> bool:
        return decisions.may_control_target(request.user)

    @admin.action(description="Pause pushing to the selected targets", permissions=["control"])
    def pause(self, request, queryset) -> None:
        for target in queryset:
            decisions.pause_target(request.user, target, f"paused in the admin by {request.user}")
        self.message_user(request, f"Paused {queryset.count()} target(s); changes keep queueing.", messages.SUCCESS)

    @admin.action(description="Resume pushing to the selected targets", permissions=["control"])
    def resume(self, request, queryset) -> None:
        for target in queryset:
            decisions.resume_target(request.user, target, f"resumed in the admin by {request.user}")
        self.message_user(request, f"Resumed {queryset.count()} target(s).", messages.SUCCESS)

    @admin.action(description="Replay every record of the domain (initial push)", permissions=["control"])
    def replay_everything(self, request, queryset) -> None:
        queued = sum(dispatch.replay(target) for target in queryset)
        self.message_user(request, f"Queued {queued} record(s); what a target holds already is not sent.")


class DeliveryTargetFilter(admin.SimpleListFilter):
    """Push targets with their source in one query (the stock filter reads each target's source)."""

    title = "target"
    parameter_name = "target__id__exact"

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        return [(str(t.pk), str(t)) for t in PushTarget.objects.select_related("source")]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(target_id=int(value)) if value and value.isdigit() else queryset


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "target", "domain", "golden_id", "version", "trigger", "status", "attempts",
                    "next_attempt_at", "response_code", "delivered_version")  # fmt: skip
    list_filter = ("status", "trigger", "classification", DeliveryTargetFilter)
    list_select_related = ("target__source",)
    search_fields = ("=golden_id",)
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    secret = forms.CharField(required=False, strip=False, widget=forms.PasswordInput(render_value=False),
                             help_text=KEEP_HELP)  # fmt: skip

    class Meta:
        model = WebhookSubscription
        fields = ("name", "url", "owner", "domains", "secret", "is_active", "paused", "batch_size", "max_attempts",
                  "timeout_seconds")  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial["secret"] = ""  # never sent to the browser

    def clean_secret(self) -> Any:
        return self.cleaned_data.get("secret") or (self.instance.secret if self.instance.pk else "")


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = ("name", "url", "owner", "domains", "is_active", "paused", "secret_display", "updated_at")
    list_filter = ("is_active", "paused")
    readonly_fields = ("secret_display", "position", "created_at", "updated_at")

    @admin.display(description="secret")
    def secret_display(self, obj: WebhookSubscription) -> str:
        return secret_status(obj.secret) if obj.pk else "—"


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("batch_id", "subscription", "event_count", "status", "attempts", "next_attempt_at",
                    "response_code", "delivered_at")  # fmt: skip
    list_filter = ("status", "subscription")
    exclude = ("body",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
