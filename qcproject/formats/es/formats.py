# Django's own is "2 de diciembre de 2026 a las 05:36".
DATETIME_FORMAT = "j b Y H:i"  # 2 dic 2026 05:36
