# Django's own is "2. Dezember 2026 05:36".
DATETIME_FORMAT = "j. M Y H:i"  # 2. Dez 2026 05:36
