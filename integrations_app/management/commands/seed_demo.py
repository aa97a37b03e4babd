"""Create one demo user per role and print their credentials the first time."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from rest_framework.authtoken.models import Token

from monitor_project.roles import ROLES


class Command(BaseCommand):
    help = "Create demo users for the staff, manager and superadmin roles."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        created_any = False
        with transaction.atomic():
            for role in reversed(ROLES):
                username = f"demo_{role}"
                if User.objects.filter(username=username).exists():
                    continue
                password = secrets.token_urlsafe(12)
                user = User.objects.create_user(
                    username=username,
                    password=password,
                    is_staff=True,
                    is_superuser=False,
                )
                user.groups.add(Group.objects.get(name=role))
                token = Token.objects.create(user=user)
                if not created_any:
                    self.stdout.write("Demo users (shown once; keep them):")
                    created_any = True
                self.stdout.write(
                    f"  {role:<10} login {username} / {password}"
                    f"   API token {token.key}"
                )
        if created_any:
            self.stdout.write(
                "Admin: http://127.0.0.1:8000/admin/  API: http://127.0.0.1:8000/api/"
            )
        else:
            self.stdout.write(
                "Demo users exist; `python manage.py api_token demo_manager --rotate` "
                "issues a new token."
            )
