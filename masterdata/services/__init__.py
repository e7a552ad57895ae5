"""Business rules of the masterdata app. Views, serializers, admin, tasks and signals call these."""
