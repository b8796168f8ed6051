"""Demo: a lively week of Ward 7B's team channel (no patient data: equipment, staffing, breaks, teaching), a
"Band 6+ nurses" channel, reactions, threads, a pinned post and read positions. Idempotent: seeded once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from channels import moderation, reading, services
from channels.models import Post
from core.accounts import Membership, Team, TeamRole, User
from core.db import db, now_utc
from rota.demo import WARD

# (days ago, hour, minute, author position, text, [(minutes later, author position, reply)], reactions)
_WEEK = [
    (6, 7, 5, 1, "Morning all. Bladder scanner is charging in the sluice, back on the trolley by 8.", [], ["👍"]),
    (6, 9, 40, 3, "Anyone seen the spare obs machine? Not in the usual bay.",
     [(4, 5, "Bay 3, behind the curtain by the window"), (6, 3, "Found it, thanks!")], ["🙏"]),
    (6, 13, 15, 0, "Reminder: fire safety e-learning due by Friday. 6 of us still to do it.", [], ["✅", "👀"]),
    (6, 19, 25, 7, "Running 10 min late, stuck behind a bus on the ring road. Sorry!",
     [(3, 0, "No worries, drive safe")], ["👍"]),
    (5, 7, 30, 2, "Pharmacy say the drug round trolley keys are at the front desk now, not the office.", [], ["👀"]),
    (5, 11, 0, 4, "Bay 3 needs a hand with a hoist transfer when anyone's free", [(2, 6, "On my way")], []),
    (5, 15, 45, 0, "Teaching at 14:00 tomorrow in the seminar room: sepsis pathway refresher. 20 minutes, cake.",
     [(30, 8, "Can the night staff get the slides?"), (35, 0, "Yes, I'll pin them after")], ["❤️", "👍"]),
    (4, 2, 10, 9, "Nights: the ward phone on the desk keeps dropping calls. Logged with IT, ref in the book.", [],
     ["👀"]),
    (4, 8, 0, 1, "Who's in charge tonight? Need to swap a break.", [(5, 0, "Kwame is, grab him after handover")], []),
    (4, 12, 30, 5, "Linen cupboard is empty again, porters called.", [], ["🙏"]),
    (3, 7, 50, 3, "Thanks everyone for a mad Saturday, good teamwork on the late.", [], ["❤️", "❤️"]),
    (3, 16, 20, 6, "Is the IV pump training on Thursday still on?", [(10, 0, "Yes, 10:00 in the skills lab")], []),
    (2, 9, 15, 0, "New pressure-area audit forms are in the blue folder. Old ones in the recycling please.", [],
     ["✅"]),
    (2, 21, 5, 9, "Quiet night so far. Kettle in the staff room has finally died.",
     [(7, 8, "I'll bring mine in tomorrow")], ["😂"]),
    (1, 7, 10, 2, "Parking on level 2 closed today for resurfacing, use the overflow by the chapel.", [], ["👍"]),
    (1, 14, 40, 4, "Can someone cover my break at 15:00? Happy to return the favour.", [(3, 1, "Got you")], []),
    (0, 7, 20, 0, "Morning. Short one on the late today, shift card is below if anyone can help.", [], ["👀"]),
    (0, 10, 5, 7, "Bladder scanner needs a new probe cover box, ordered.", [], ["🙏"]),
]


def seed_channels() -> list[str]:
    ward = db.session.scalar(select(Team).where(Team.name == WARD))
    if ward is None:
        return []
    channel = services.team_channel(ward)
    if db.session.scalar(select(Post.id).where(Post.channel_id == channel.id, Post.kind == "text").limit(1)):
        return []
    people = list(db.session.scalars(select(User).join(Membership, Membership.user_id == User.id)
                                      .where(Membership.team_id == ward.id, User.active.is_(True))
                                      .order_by(Membership.role != TeamRole.coordinator, User.id)))
    if len(people) < 10:
        return []
    now = now_utc()
    posts = []
    for days, hour, minute, who, text, replies, reactions in _WEEK:
        at = (now - timedelta(days=days)).replace(hour=hour, minute=minute, second=0, microsecond=0)
        if at > now:
            at -= timedelta(days=1)
        p = services.post(channel, people[who], text)
        p.created_at = at
        for i, (later, replier, reply_text) in enumerate(replies):
            r = services.post(channel, people[replier], reply_text, parent=p)
            r.created_at = at + timedelta(minutes=later + i)
        for i, emoji in enumerate(reactions):
            moderation.react(p, people[(who + 1 + i) % len(people)], emoji)
        posts.append(p)
    moderation.pin(posts[6], people[0])
    for i, person in enumerate(people):
        reading.mark_read(channel, person, posts[max(0, len(posts) - 1 - i % 6)].id)
    seniors = services.create_channel(ward, people[0], name="Band 6+ nurses", kind="rule",
                                      rule={"staff_group": "nursing", "min_grade": "Band 6"})
    services.post(seniors, people[0], "Charge nurse rota for next month is up on the board; swap amongst "
                                      "yourselves and tell me by Friday.")
    db.session.flush()
    return [f"  {WARD}: a week of team channel conversation ({len(posts)} posts with threads) and a "
            "Band 6+ nurses channel"]
