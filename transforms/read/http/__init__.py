"""HTTP for feeds and pages: safe fetching (`fetch`), per-host politeness and robots.txt
(`politeness`), and a DoFn base that fetches hosts in parallel (`hostpool`)."""
