"""The demo seeds a week of Ward 7B conversation that passes the patient-data guard, once."""

from sqlalchemy import func, select

from channels import demo, guard
from channels.models import Channel, Post
from core.db import db
from rota import demo as rota_demo


def test_demo_week_of_ward_7b_conversation(app):
    rota_demo.seed_people_and_teams()
    assert demo.seed_channels()
    db.session.commit()
    texts = list(db.session.scalars(select(Post.text)))
    assert len(texts) >= 25
    pattern = app.config["CHANNELS_HOSPITAL_NUMBER_PATTERN"]
    assert all(guard.check(t, pattern) is None for t in texts)
    days = {p.created_at.date() for p in db.session.scalars(select(Post))}
    assert len(days) >= 6
    assert db.session.scalar(select(func.count(Channel.id))) == 2
    assert demo.seed_channels() == []
