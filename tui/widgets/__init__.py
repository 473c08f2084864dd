"""Small reusable widgets and renderers for the app's screens."""
