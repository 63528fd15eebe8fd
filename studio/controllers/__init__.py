"""Controllers: QObjects (no widgets) owning connections, runners, tasks and locks; panels are their views."""
