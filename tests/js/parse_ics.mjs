// Cross-check for the calendar-feed tests: parse .ics files with Mozilla's ical.js (the parser Thunderbird uses),
// reading each file's own VTIMEZONE data, and print what a client would see as JSON (instants in UTC).
// Usage: node tests/js/parse_ics.mjs FILE... -> [{calname, events: [{uid, status, sequence, summary, start, end}]}]
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

function parse(path) {
  const comp = new ICAL.Component(ICAL.parse(readFileSync(path, "utf8")));
  for (const tz of comp.getAllSubcomponents("vtimezone")) {
    ICAL.TimezoneService.register(tz);
  }
  const events = comp.getAllSubcomponents("vevent").map((v) => {
    const e = new ICAL.Event(v);
    return {
      uid: e.uid,
      status: v.getFirstPropertyValue("status"),
      sequence: e.sequence,
      summary: e.summary,
      description: e.description,
      start: e.startDate.toJSDate().toISOString(),
      end: e.endDate.toJSDate().toISOString(),
      alarms: v.getAllSubcomponents("valarm").map((a) => a.getFirstPropertyValue("trigger").toString()),
    };
  });
  return {
    calname: comp.getFirstPropertyValue("x-wr-calname"),
    ttl: comp.getFirstPropertyValue("x-published-ttl")?.toString() ?? null,
    refresh: comp.getFirstPropertyValue("refresh-interval")?.toString() ?? null,
    events,
  };
}

process.stdout.write(JSON.stringify(process.argv.slice(2).map(parse)));
