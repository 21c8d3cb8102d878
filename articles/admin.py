from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from psyweb.text import PlainTextModelForm

from .models import Article, Disclaimer, LegalStatement, Topic


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    form = PlainTextModelForm  # text pasted from Word loses its control characters
    list_display = ["title", "status", "published_at", "topic", "author", "updated_at"]
    list_filter = ["status", "published_at", "topic"]
    search_fields = ["title", "summary", "body", "source_name"]
    date_hierarchy = "published_at"
    prepopulated_fields = {"slug": ["title"]}
    list_select_related = ["topic", "author"]
    autocomplete_fields = ["topic", "poll"]
    readonly_fields = ["preview", "created_at", "updated_at"]
    actions = ["publish", "unpublish"]
    fieldsets = [
        (None, {"fields": ["title", "slug", "summary", "body", "topic"]}),
        ("Publishing", {"fields": ["status", "published_at", "author"]}),
        (
            "Image",
            {"fields": ["image", "image_alt", "photo_credit", "photo_credit_url", "photo_licence"]},
        ),
        ("Source and disclaimer", {"fields": ["source_name", "source_url", "disclaimer"]}),
        ("Poll", {"fields": ["poll"]}),
        ("Preview", {"fields": ["preview", "created_at", "updated_at"]}),
    ]

    @admin.display(description="Rendered body")
    def preview(self, obj):
        if not obj.pk:
            return "Save the article to see it rendered."
        # body_html went through the sanitizer when the article was saved.
        return format_html(
            '<p><a href="{}">Open the article as readers will see it</a></p>'
            '<div class="psyweb-preview">{}</div>',
            obj.get_absolute_url(),
            mark_safe(obj.body_html),  # noqa: S308 - sanitized with nh3 when saved
        )

    def save_model(self, request, obj, form, change):
        if obj.author is None and not change:
            obj.author = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description="Publish the selected articles", permissions=["change"])
    def publish(self, request, queryset):
        now = timezone.now()
        undated = queryset.filter(published_at__isnull=True).update(
            status=Article.Status.PUBLISHED, published_at=now, updated_at=now
        )
        dated = queryset.exclude(status=Article.Status.PUBLISHED).update(
            status=Article.Status.PUBLISHED, updated_at=now
        )
        self.message_user(
            request,
            f"Published {undated + dated} article(s). Those with a future date stay scheduled.",
            messages.SUCCESS,
        )

    @admin.action(
        description="Unpublish the selected articles (back to draft)", permissions=["change"]
    )
    def unpublish(self, request, queryset):
        count = queryset.exclude(status=Article.Status.DRAFT).update(
            status=Article.Status.DRAFT, updated_at=timezone.now()
        )
        self.message_user(request, f"Unpublished {count} article(s).", messages.SUCCESS)


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    form = PlainTextModelForm
    list_display = ["name", "slug"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Disclaimer)
class DisclaimerAdmin(admin.ModelAdmin):
    form = PlainTextModelForm
    list_display = ["name", "is_default"]
    search_fields = ["name", "text"]


@admin.register(LegalStatement)
class LegalStatementAdmin(admin.ModelAdmin):
    form = PlainTextModelForm
    list_display = ["title", "updated_at"]
    readonly_fields = ["updated_at"]

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not LegalStatement.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False
