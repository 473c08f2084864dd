"""The app's screens, one module each (shown as tabs: Data, Models, Training, Results,
Confusion, Runs, Classify). Each is a container widget that reads the app's state."""
