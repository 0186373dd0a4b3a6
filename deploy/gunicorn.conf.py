# Gunicorn settings for the Lastmile receiver (the same ones `lastmile serve` uses):
#   gunicorn -c deploy/gunicorn.conf.py 'lastmile.wsgi:create_app()'
# Embedded mode needs ONE worker process (its worker thread orders events per record);
# scale out with Celery workers (LASTMILE_BROKER_URL), not with more gunicorn processes.
# With LASTMILE_BROKER_URL set the receiver only stores and enqueues, so it may run several
# processes: WEB_CONCURRENCY of them (default 2).
import os

from lastmile.serving import gunicorn_options

globals().update(gunicorn_options(broker=bool(os.environ.get("LASTMILE_BROKER_URL"))))
bind = os.environ.get("LASTMILE_BIND", "0.0.0.0:8000")
