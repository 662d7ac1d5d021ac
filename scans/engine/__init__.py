"""The scan engine: layer streams -> unpack (streamed tar, whiteouts, hostile-input checks)
-> analyzers -> catalog (the image's final view) -> Inventory. No Django, no network:
``scans.services`` hands it layer streams and stores what it returns."""
