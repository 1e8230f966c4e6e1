# The app's state lives in its migrations; the suite runs them one by one.
