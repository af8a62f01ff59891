"""The hello site on Flask's development server with the reloader (``debug=True``): a watcher
process and a serving child, both running this script and both opening the Kero database at
start-up. Run as ``python reloader_site.py PORT`` with ``FLASK_KERO_DB_PATH`` set."""

import sys

from hello_site import create_app, kero

app = create_app()
with app.app_context():
    kero.count()  # both processes read the database at start-up, as a page rendering stats would
app.run("127.0.0.1", int(sys.argv[1]), debug=True)
