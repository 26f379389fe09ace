"""Reading: file patterns on any Beam filesystem (`files.ReadArticles`) and feeds over HTTP
(`feeds.ReadFeeds`, `feeds.FetchFeeds`, `feeds.FetchPages`) -> `RawDocument`s and dead letters.
Helpers: decompression (`compression`), one parser per format (`formats`, `deep_html`), feed
parsing and the state kept between runs (`feed_parse`, `feed_state`), polite and safe HTTP
(`http/`)."""
