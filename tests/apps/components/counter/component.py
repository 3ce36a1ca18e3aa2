from reactor import define_component

component = define_component("counter")
