"""Stand-in of `modules.shared_items`."""
from modules.shared_cmd_options import cmd_opts


def reload_hypernetworks():
    from modules import shared
    from modules.hypernetworks import hypernetwork
    shared.hypernetworks = hypernetwork.list_hypernetworks(cmd_opts.hypernetwork_dir)
