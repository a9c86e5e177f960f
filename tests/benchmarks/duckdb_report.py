"""The cold-start yardstick: DuckDB computing the same report in one SQL query, fresh process.

Run: python tests/benchmarks/duckdb_report.py DATA START END [TZ]
Prints the seconds the query took (import and connection included) and the report as JSON, so
that bench_metrics.py can check that both engines agree before comparing their times.
"""

import json
import sys
import time
from pathlib import Path

t0 = time.perf_counter()
import duckdb  # noqa: E402

QUERY = """
WITH req AS (
  SELECT request_id, ts::TIMESTAMPTZ AS ts, user_id, license_id,
         CAST(round(credits * 1000000) AS BIGINT) AS c,
         CAST(timezone($tz, ts::TIMESTAMPTZ) AS DATE) AS day
  FROM read_parquet($requests, hive_partitioning = true)
  WHERE credits > 0 AND tool NOT IN ('code_completion', 'next_edit_suggestion')
),
lic AS (SELECT license_id, CAST(round(monthly_quota * 1000000) AS BIGINT) AS quota,
               cycle_anchor::TIMESTAMPTZ AS anchor FROM read_parquet($licenses)),
q AS (
  SELECT req.*, quota,
         CASE WHEN anchor IS NULL THEN year(day) * 12 + month(day)
              ELSE CAST(floor((epoch(req.ts) - epoch(anchor)) / 2592000) AS BIGINT) END AS qp
  FROM req JOIN lic USING (license_id)
),
s AS (
  SELECT *, SUM(c) OVER (PARTITION BY license_id, qp ORDER BY ts, request_id
                         ROWS UNBOUNDED PRECEDING) AS spent_after
  FROM q
),
tl AS (SELECT user_id, effective_from::TIMESTAMPTZ AS eff,
              CAST(round(monthly_limit * 1000000) AS BIGINT) AS lim FROM read_parquet($topups)),
l AS (
  SELECT s.*, coalesce(u.lim, d.lim, 0) AS lim FROM s
  ASOF LEFT JOIN (SELECT * FROM tl WHERE user_id IS NOT NULL) u
    ON s.user_id = u.user_id AND s.ts >= u.eff
  ASOF LEFT JOIN (SELECT eff, lim FROM tl WHERE user_id IS NULL) d ON s.ts >= d.eff
),
led AS (
  SELECT user_id, day,
         least(c, greatest(0, quota - (spent_after - c))) AS builtin,
         c - least(c, greatest(0, quota - (spent_after - c))) AS topup,
         (spent_after - c) < quota + lim AND spent_after >= quota + lim AS hit
  FROM l WHERE day BETWEEN $start::DATE AND $end::DATE
),
b AS (SELECT *, date_trunc('month', day)::DATE AS bucket FROM led),
per AS (
  SELECT bucket, count(DISTINCT user_id) AS active, sum(builtin) AS builtin, sum(topup) AS topup,
         count(DISTINCT CASE WHEN hit THEN user_id END) AS hit_users
  FROM b GROUP BY bucket
),
daily AS (SELECT day, count(DISTINCT user_id) AS n FROM b WHERE hit GROUP BY day)
SELECT
  (SELECT list(struct_pack(bucket := bucket, active := active, builtin := builtin, topup := topup,
                           hit_users := hit_users) ORDER BY bucket) FROM per) AS series,
  (SELECT count(DISTINCT user_id) FROM b) AS active_total,
  (SELECT count(DISTINCT user_id) FROM b WHERE hit) AS hit_total,
  (SELECT arg_min(day, struct_pack(neg := -n, day := day)) FROM daily) AS peak_day,
  (SELECT max(n) FROM daily) AS peak
"""


def main() -> None:
    data, start, end = sys.argv[1:4]
    tz = (
        sys.argv[4]
        if len(sys.argv) > 4
        else json.loads(Path(data, "organization.json").read_text())["timezone"]
    )
    con = duckdb.connect()
    row = con.execute(
        QUERY,
        {
            "tz": tz,
            "requests": f"{data}/requests/**/*.parquet",
            "licenses": f"{data}/licenses.parquet",
            "topups": f"{data}/topup_limits.parquet",
            "start": start,
            "end": end,
        },
    ).fetchone()
    seconds = time.perf_counter() - t0
    series, active_total, hit_total, peak_day, peak = row
    out = {
        "seconds": round(seconds, 3),
        "buckets": [str(s["bucket"]) for s in series],
        "active_users": {"total": active_total, "series": [s["active"] for s in series]},
        "credits": {
            "builtin": round(sum(s["builtin"] for s in series) / 1e6, 6),
            "topup": round(sum(s["topup"] for s in series) / 1e6, 6),
            "micro": {
                "builtin": [int(s["builtin"]) for s in series],
                "topup": [int(s["topup"]) for s in series],
            },
        },
        "limit_hits": {
            "users": hit_total,
            "peak_daily_users": peak or 0,
            "peak_day": str(peak_day) if peak else None,
            "series": [s["hit_users"] for s in series],
        },
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
