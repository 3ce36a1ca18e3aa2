from reactor import define_app

from .tally.component import component as tally

app = define_app()
app.use(tally)  # installed as "tally"; app.use(tally, name="likes") installs another
