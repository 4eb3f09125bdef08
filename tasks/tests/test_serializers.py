"""The task representations are built by hand for speed; they must equal what the declared
fields give (DRF's generic `to_representation`), which is also what the OpenAPI schema says."""

import pytest
from rest_framework import serializers

from tasks.models import Task
from tasks.serializers import TaskCompleteSerializer, TaskSerializer
from tasks.testing import make_tasks

pytestmark = pytest.mark.django_db


def declared(serializer_class, instance) -> dict:
    """The representation DRF builds from the serializer's declared fields."""
    return dict(serializers.ModelSerializer.to_representation(serializer_class(), instance))


def test_task_representation_equals_the_declared_fields(alice):
    pending, in_progress = make_tasks("pending", "in progress: ünïcode ✓")
    Task.objects.filter(pk=in_progress.pk).update(status="IN_PROGRESS", assigned_to=alice)

    for task in Task.objects.all():
        assert TaskSerializer(task).data == declared(TaskSerializer, task)
    assert [t["id"] for t in TaskSerializer(Task.objects.all(), many=True).data] == [
        pending.pk,
        in_progress.pk,
    ]


@pytest.mark.parametrize("with_next", [True, False])
def test_complete_representation_equals_the_declared_fields(with_next):
    done, following = make_tasks("done", "next")
    done.next_task = following if with_next else None

    data = TaskCompleteSerializer(done).data

    assert data == declared(TaskCompleteSerializer, done)
    assert (data["next_task"] is not None) == with_next
