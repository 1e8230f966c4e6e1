"""A minimal Django project: one app, migrations only, against the test
cluster named by MG_PORT and MG_DB."""
import os

SECRET_KEY = "migguard-tools-suite"
INSTALLED_APPS = ["django.contrib.postgres", "shop"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "127.0.0.1",
        "PORT": os.environ["MG_PORT"],
        "NAME": os.environ.get("MG_DB", "django"),
        "USER": "postgres",
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
