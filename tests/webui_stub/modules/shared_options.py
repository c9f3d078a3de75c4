"""Stand-in of `modules.shared_options`: the built-in options the extension reads."""
from modules.options import OptionInfo, options_section

options_templates: dict = {}
options_templates.update(options_section(("saving-images", "Saving images/grids"), {
    "samples_format": OptionInfo("png", "File format for images"),
}))
options_templates.update(options_section(("training", "Training"), {
    "save_optimizer_state": OptionInfo(False, "Save an .optim file with the hypernetwork"),
    "training_xattention_optimizations": OptionInfo(False, "Use cross attention optimizations while training"),
}))
options_templates.update(options_section(("optimizations", "Optimizations"), {
    "cross_attention_optimization": OptionInfo("Automatic", "Cross attention optimization"),
}))
options_templates.update(options_section(("extra_networks", "Extra Networks"), {
    "extra_networks_default_multiplier": OptionInfo(1.0, "Default multiplier for extra networks"),
    "sd_hypernetwork": OptionInfo("None", "Add hypernetwork to prompt"),
    "ui_extra_networks_tab_reorder": OptionInfo("", "Extra networks tab order"),
}))
