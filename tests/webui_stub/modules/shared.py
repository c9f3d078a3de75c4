"""Stand-in of `modules.shared`: opts, cmd_opts, state, the loaded model and the hypernetwork lists."""
from modules import interrogate, options, shared_cmd_options, shared_items, shared_options, shared_state

cmd_opts = shared_cmd_options.cmd_opts
parser = shared_cmd_options.parser

hypernetworks: dict = {}
loaded_hypernetworks: list = []

options_templates = shared_options.options_templates
opts = options.Options(options_templates, set())
state = shared_state.State()
sd_model = None
device = "cpu"
interrogator = interrogate.InterrogateModels("interrogate")

options_section = options.options_section
OptionInfo = options.OptionInfo
OptionHTML = options.OptionHTML

reload_hypernetworks = shared_items.reload_hypernetworks
