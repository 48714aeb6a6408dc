"""Admin for staff and members. Every change of a member row goes through accounts.actions."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts import actions
from accounts.emails import normalize_email
from accounts.exceptions import AccountsError
from accounts.models import Identity, Member, Platform, Profile, Subscription, User
from config.admin import requires

admin.site.register(User, UserAdmin)

# What only a role that needs it may see: emails, and the platform identities (external
# ids and usernames) that tie a member to a person elsewhere.
PII = "accounts.view_member_pii"
PII_FIELDS = {"email", "email_normalized"}


def sees_pii(request) -> bool:
    return request.user.has_perm(PII)


class ReadOnlyInline:
    """Shown on the member page; changed only through actions (not through the inline)."""

    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class IdentityInline(ReadOnlyInline, admin.TabularInline):
    model = Identity
    fields = [
        "platform",
        "external_id",
        "username",
        "first_name",
        "last_name",
        "is_bot",
        "created_at",
    ]
    readonly_fields = fields


class ProfileInline(ReadOnlyInline, admin.StackedInline):
    model = Profile
    fields = [
        "archetype",
        "preferences",
        "personality",
        "welcomed",
        "onboarding_completed",
        "tutorial_completed",
    ]
    readonly_fields = fields


class SubscriptionInline(ReadOnlyInline, admin.TabularInline):
    model = Subscription
    fields = ["tier", "status", "starts_at", "expires_at", "ended_at"]
    readonly_fields = fields


class RegisterMemberForm(forms.ModelForm):
    """The admin's add form: a registration, exactly as a bot would make it."""

    platform = forms.ChoiceField(choices=Platform.choices)
    external_id = forms.CharField(max_length=64, label="External id")
    username = forms.CharField(max_length=150, required=False)
    new_email = forms.CharField(max_length=254, required=False, label="Email")
    referrer_code = forms.CharField(max_length=16, required=False, label="Referred by (code)")

    class Meta:
        model = Member
        fields: list[str] = []

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self.registration_request = actions.validate_registration(
                platform=data["platform"],
                external_id=data["external_id"],
                username=data.get("username", ""),
                email=data.get("new_email") or None,
                referral_code=data.get("referrer_code") or None,
            )
            if not Member.objects.by_identity(data["platform"], data["external_id"]):
                actions.refuse_taken_email(self.registration_request)
        except AccountsError as exc:
            raise ValidationError(str(exc)) from None
        return data


class MemberChangeForm(forms.ModelForm):
    class Meta:
        model = Member
        fields = list(actions.MEMBER_EDITABLE)

    def clean_display_name(self):
        name = self.cleaned_data["display_name"]
        external_ids = self.instance.identities.values_list("external_id", flat=True)
        try:
            return actions.validate_display_name(name, list(external_ids))
        except AccountsError as exc:
            raise ValidationError(str(exc)) from None

    def clean_email(self):
        email = self.cleaned_data["email"].strip()
        if email:
            try:
                normalized = normalize_email(email)
            except AccountsError as exc:
                raise ValidationError(str(exc)) from None
            if (
                Member.objects.filter(email_normalized=normalized)
                .exclude(pk=self.instance.pk)
                .exists()
            ):
                raise ValidationError(f"{email!r} is already registered (as {normalized!r})")
        return email


class PremiumNowFilter(admin.SimpleListFilter):
    """Premium now, as every rule reads it (`accounts.premium`): no stored flag."""

    title = "premium now"
    parameter_name = "premium"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        premium = Member.objects.premium_subscribers(timezone.now()).values("pk")
        if self.value() == "yes":
            return queryset.filter(pk__in=premium)
        if self.value() == "no":
            return queryset.exclude(pk__in=premium)
        return queryset


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "display_name",
        "email",
        "language",
        "premium_now",
        "is_active",
        "created_at",
        "last_active_at",
    ]
    list_filter = ["is_active", PremiumNowFilter, "language", "identities__platform"]
    search_fields = [
        "display_name",
        "email",
        "email_normalized",
        "referral_code",
        "identities__username",
        "identities__external_id",
    ]
    search_help_text = (
        "Name or referral code; with access to personal data also username, external id or email."
    )
    readonly_fields = [
        "email_normalized",
        "referral_code",
        "referred_by",
        "created_at",
        "last_active_at",
    ]
    inlines = [IdentityInline, ProfileInline, SubscriptionInline]
    ordering = ["-id"]
    show_full_result_count = False

    @admin.display(boolean=True, description="premium now")
    def premium_now(self, obj) -> bool:
        return obj.premium_now  # annotated by get_queryset: one query for the page

    def get_queryset(self, request):
        premium = Subscription.objects.premium(timezone.now()).filter(member=OuterRef("pk"))
        return super().get_queryset(request).annotate(premium_now=Exists(premium))

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = MemberChangeForm if obj is not None else RegisterMemberForm
        if obj is not None:
            hidden = self._hidden(request)
            kwargs["fields"] = [f for f in actions.MEMBER_EDITABLE if f not in hidden]
            kwargs["exclude"] = sorted(hidden)
        return super().get_form(request, obj, change=change, **kwargs)

    @staticmethod
    def _hidden(request) -> set[str]:
        """Fields the user may not change: personal data without the permission to see it.
        (Premium is no field: a subscription grants it, through its actions.)"""
        return set() if sees_pii(request) else set(PII_FIELDS)

    def get_list_display(self, request):
        shown = super().get_list_display(request)
        return shown if sees_pii(request) else [f for f in shown if f not in PII_FIELDS]

    def get_search_fields(self, request):
        if sees_pii(request):
            return self.search_fields
        return ["display_name", "referral_code"]

    def lookup_allowed(self, lookup, value, request=None):
        # `?email__startswith=a` would read an email a letter at a time.
        if lookup.split("__")[0] in PII_FIELDS and not (request and sees_pii(request)):
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [
                (
                    "Register a member",
                    {
                        "fields": [
                            "platform",
                            "external_id",
                            "username",
                            "new_email",
                            "referrer_code",
                        ]
                    },
                )
            ]
        hidden = self._hidden(request)
        shown = set() if sees_pii(request) else PII_FIELDS
        return [
            (None, {"fields": [f for f in actions.MEMBER_EDITABLE if f not in hidden]}),
            (
                "Recorded",
                {
                    "fields": [f for f in self.readonly_fields if f not in shown],
                },
            ),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        shown = set() if sees_pii(request) else PII_FIELDS
        return [f for f in self.readonly_fields if f not in shown]

    def get_inlines(self, request, obj):
        if obj is None:
            return []
        return self.inlines if sees_pii(request) else [ProfileInline, SubscriptionInline]

    def save_model(self, request, obj, form, change):
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data}
            updated = actions.update_member(obj, actor=request.user, **changes)
        else:
            req = form.registration_request
            registration = actions.register_member(
                platform=req.platform,
                external_id=req.external_id,
                username=req.username,
                email=req.email or None,
                referral_code=req.referrer.referral_code if req.referrer else None,
                actor=request.user,
            )
            updated = registration.member
            if not registration.created:
                self.message_user(
                    request,
                    f"{req.platform}:{req.external_id} was already registered; nothing changed.",
                    messages.WARNING,
                )
        # The admin goes on with `obj` (redirects, log entry): make it the saved row.
        obj.__dict__.update(updated.__dict__)

    def save_formset(self, request, form, formset, change):
        """Inlines are read-only: related rows change only through actions."""
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["member", "tier", "status", "starts_at", "expires_at", "ended_at"]
    list_filter = ["tier", "status"]
    search_fields = ["member__display_name", "member__email"]
    raw_id_fields = ["member"]

    def get_search_fields(self, request):
        return self.search_fields if sees_pii(request) else ["member__display_name"]

    fields = ["member", "tier", "starts_at", "expires_at"]
    actions = ["cancel", "renew_month"]
    has_manage_subscription_permission = requires("accounts.manage_subscription")

    def has_add_permission(self, request):
        # Adding is starting one (an action that may grant premium chapters).
        return super().has_add_permission(request) and self.has_manage_subscription_permission(
            request
        )

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # The form checked for an active subscription; the constraint settles a race.
        subscription = actions.start_subscription(
            obj.member,
            tier=obj.tier,
            starts_at=obj.starts_at,
            expires_at=obj.expires_at,
            actor=request.user,
        )
        obj.__dict__.update(subscription.__dict__)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        class StartSubscriptionForm(form):
            def clean(self):
                data = super().clean()
                member = data.get("member")
                current = Subscription.objects.current(timezone.now())
                if member and current.filter(member=member).exists():
                    raise ValidationError(f"{member} already has an active subscription.")
                return data

        return StartSubscriptionForm

    @admin.action(
        description="Cancel the selected subscriptions", permissions=["manage_subscription"]
    )
    def cancel(self, request, queryset):
        for subscription in queryset.filter(status="active"):
            actions.cancel_subscription(subscription, actor=request.user)
        self.message_user(request, "Cancelled.", messages.SUCCESS)

    @admin.action(
        description="Renew the selected subscriptions by 30 days",
        permissions=["manage_subscription"],
    )
    def renew_month(self, request, queryset):
        renewed, refused = 0, []
        for subscription in queryset.filter(status="active").order_by("pk"):
            try:
                actions.renew_subscription(
                    subscription, period=timedelta(days=30), actor=request.user
                )
                renewed += 1
            except AccountsError as error:
                refused.append(f"#{subscription.pk}: {error}")
        self.message_user(request, f"Renewed {renewed}.", messages.SUCCESS)
        if refused:
            self.message_user(request, "Refused: " + "; ".join(refused), messages.WARNING)
