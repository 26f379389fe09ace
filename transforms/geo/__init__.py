"""Places, offline: countries and nationality words (`countries`), cities with coordinates
(`geocode`), first-level subdivisions (`admin1` and the table it generates in `data/`)."""
