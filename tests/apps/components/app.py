from reactor import define_app

from .counter.component import component as counter

app = define_app()
app.use(counter)  # installed as "counter", its own name
app.use(counter, name="second")  # the same component again: its own tables
