-- 0015: status_events refuses a day that does not exist, on every SQLite.

-- An event inserted into the `status_events` view needs a date that exists.
-- 0013's check compares the text with date() of itself; SQLite before 3.42
-- (Debian 12's sqlite3 3.40, an older Datasette) returns '2024-02-30' unchanged
-- from date('2024-02-30'), so another writer could store the day 20240230. A
-- modifier makes every SQLite compute the date, which normalises an impossible
-- day ('2024-03-01') and so tells it from the text. Refused like 0013's checks:
-- RAISE(ABORT) undoes the whole statement, whichever INSTEAD OF trigger fires
-- first.
CREATE TRIGGER status_events_real_date INSTEAD OF INSERT ON status_events
WHEN new.effective_on IS NOT date(new.effective_on, '+0 days')
BEGIN
    SELECT RAISE(ABORT, 'status_events: effective_on must be a date that exists, written YYYY-MM-DD');
END;
