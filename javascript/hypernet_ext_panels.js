// hypernet-ext panels (Create / Preprocess / Train / Resume, and Generate in the standalone UI):
// tooltips in the webui's `titles` convention (the declared options' come from the panels' generated
// data-hnx-titles elements), and the live view's polling.
// Runs inside the webui (loaded like every extension script) and in the standalone UI (injected on load).
(function() {
    var hypernetExtPanelTitles = {
        // Create
        "Hypernetwork name": "File name of the new hypernetwork (letters, digits, '.', '_', '-' and spaces). It is also the name used in <hypernet:name> tags.",
        "Attention widths to train": "Context widths of the attention layers the hypernetwork modifies, read from the loaded model: 768 (SD1 text), 1024 (SD2 text), 2048 (SDXL text), 320/640/1280 (self-attention).",
        "Read widths from the model": "Read the attention widths again, e.g. after loading another checkpoint.",
        "Save into folder": "Folder the new file is written to (the first hypernetwork folder by default).",
        "Create hypernetwork": "Create the file with the options above.",
        // Preprocess
        "Source image folder": "Folder holding your raw images.",
        "Output folder": "Folder the processed images and captions are written to; it must not be inside the source folder.",
        "Caption folder": "Folder of images whose .txt captions to edit one at a time (e.g. the preprocessing output folder).",
        "Image": "The image whose caption is being edited.",
        "Load": "Show the first image of the caption folder with its caption.",
        "Caption": "The caption of the image shown; Save writes it to the image's .txt file.",
        "Previous": "Show the previous image (unsaved edits are dropped).",
        "Next": "Show the next image (unsaved edits are dropped).",
        "Save caption": "Write the caption to the image's .txt file (atomically).",
        "Save and next": "Write the caption, then show the next image.",
        "Refresh captioners": "Read the list of available captioners again.",
        "Preprocess": "Process every image of the source folder in the background.",
        // Train
        "Hypernetwork to train": "Hypernetwork file to train; press Refresh list after adding files.",
        "Refresh list": "Read the hypernetwork folders again.",
        "Dataset directory": "Folder of training images, with optional .txt captions of the same name.",
        "Log directory": "Each run gets its own folder <log directory>/<name>/<start time>: checkpoints, previews, loss.csv and settings. Another run's files are never changed.",
        "Read parameters (prompt, etc...) from txt2img tab when making previews": "Use the txt2img tab's prompt, negative prompt, steps, sampler, CFG scale, seed and size for previews.",
        "Train hypernetwork": "Start training in the background; the live view shows step, loss, speed, ETA, the loss plot and the latest preview.",
        "Interrupt": "Stop after the current step; a checkpoint is saved so you can resume.",
        "Refresh status": "Update the live view now (it also updates by itself while a job runs).",
        // Resume
        "Training run": "A run folder under the log directory (<name>/<start time>, one per training start; resuming continues the same run).",
        "Refresh runs": "Read the log directory again.",
        "Show checkpoints": "List the run's checkpoints with their loss and optimizer state.",
        "Checkpoints": "The run's checkpoints, one row each: step, loss, validation loss, whether its optimizer state is kept and matches the file, the optimizer, the file name.",
        "Resume from checkpoint": "Checkpoint to continue from; with matching optimizer state the run continues exactly.",
        "Train until step (0 = as the run was set)": "New target step; 0 keeps the run's own setting.",
        "Resume training": "Continue training from the chosen checkpoint with the run's saved options.",
        // Validation loss and comparison grid (training/validation.py, compare.py)
        "Validation split": "Hold out this fraction of the training images (chosen by the seed) to measure a validation loss; they are not trained on.",
        "Validation folder": "A separate folder of captioned images for the validation loss (instead of a split).",
        "Validate every N steps": "Measure the validation loss every N steps; 0 measures it at every saved checkpoint. Written to validation.csv in the run folder.",
        "Early stop after K evaluations": "Stop when the validation loss has not improved for K measurements, keeping the best checkpoint as the result (0 = off).",
        "Checkpoints to compare": "One column of the grid per ticked checkpoint.",
        "Seeds (one row each)": "One row per seed, e.g. 1,2,3 or 1-4.",
        "Add a 'none' column (no hypernetwork)": "Add a column rendered without any hypernetwork, for reference.",
        "Compare these checkpoints": "Render the grid (checkpoints x seeds), show it and save it as compare-<time>.png in the run folder.",
        // Using a run's checkpoint (ui/use_checkpoint.py: Generate and Resume)
        "Run checkpoints": "Checkpoints of your training runs (file, step, loss and run; in the webui also its own trainer's, under textual_inversion/<date>/<name>). Tags load files from the hypernetworks folder only: copy a checkpoint there to use it.",
        "Name for the copy (the tag name)": "File name of the copy in the hypernetworks folder, used as <hypernet:name> (default: the checkpoint's own, <name>-<step>).",
        "Use this checkpoint": "Copy the chosen checkpoint into the hypernetworks folder under the name given (the run's file stays as it is), so <hypernet:name> tags load it; Generate's tag list then offers it.",
        // Generate (standalone UI)
        "Prompt": "Text prompt; <hypernet:name:strength> tags apply hypernetworks.",
        "Negative prompt": "What the image should not show.",
        "Hypernetwork tag": "Hypernetwork to add to the prompt as a tag.",
        "Tag strength": "Strength written into the tag (1 = as trained).",
        "Add tag to prompt": "Append <hypernet:name:strength> to the prompt.",
        "Sampling steps": "Number of DDIM sampling steps.",
        "CFG scale": "How strongly the image follows the prompt.",
        "Seed": "Random seed; -1 picks one.",
        "Width": "Image width in pixels.",
        "Height": "Image height in pixels.",
        "Generate": "Render the image with the tagged hypernetworks applied."
    };
    window.hypernetExtPanelTitles = hypernetExtPanelTitles;

    function appRoot() {
        if (typeof gradioApp === "function") {
            return gradioApp();
        }
        var app = document.querySelector("gradio-app");
        return (app && app.shadowRoot) ? app.shadowRoot : document;
    }

    // Option tooltips generated from the option declarations, carried by hidden elements in the panels.
    function readGeneratedTitles() {
        appRoot().querySelectorAll("[data-hnx-titles]").forEach(function(element) {
            var generated = {};
            try {
                generated = JSON.parse(element.getAttribute("data-hnx-titles"));
            } catch (e) {
                return;
            }
            for (var label in generated) {
                if (!(label in hypernetExtPanelTitles)) {
                    hypernetExtPanelTitles[label] = generated[label];
                }
            }
        });
    }

    function applyTitles() {
        readGeneratedTitles();
        if (typeof titles !== "undefined") {  // the webui's hints.js shows titles[label]
            for (var label in hypernetExtPanelTitles) {
                if (!(label in titles)) {
                    titles[label] = hypernetExtPanelTitles[label];
                }
            }
        }
        var nodes = appRoot().querySelectorAll('[id^="hnx_"] span, [id^="hnx_"] button, [id^="hnx_"] label');
        nodes.forEach(function(node) {
            if (node.title) {
                return;
            }
            var text = (node.textContent || "").trim();
            if (text in hypernetExtPanelTitles) {
                node.title = hypernetExtPanelTitles[text];
            }
        });
    }

    // Start buttons: put a fresh task id into the first argument; in the webui, show its progress bar.
    window.hypernetExtStartJob = function() {
        var args = Array.prototype.slice.call(arguments);
        var id = "hnx_task_" + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
        args[0] = id;
        if (typeof requestProgress === "function") {
            var status = visibleLiveStatus();
            if (status && status.parentElement) {
                requestProgress(id, status.parentElement, null, function() {});
            }
        }
        setTimeout(pollLiveViews, 1000);
        return args;
    };

    function visible(element) {
        return element && element.offsetParent !== null;
    }

    function visibleLiveStatus() {
        var found = null;
        appRoot().querySelectorAll('[id^="hnx_"][id$="_live_status"]').forEach(function(element) {
            if (!found && visible(element)) {
                found = element;
            }
        });
        return found;
    }

    var lastClick = {};
    var RUNNING_POLL_MS = 900;
    var IDLE_POLL_MS = 5000;  // a job started from another tab or page shows up within this

    // Click the visible live view's refresh button: about every second while its status says a job
    // is running, every few seconds otherwise.
    function pollLiveViews() {
        appRoot().querySelectorAll('[id^="hnx_"][id$="_live_status"]').forEach(function(status) {
            if (!visible(status)) {
                return;
            }
            var wait = status.querySelector('[data-hnx-running="true"]') ? RUNNING_POLL_MS : IDLE_POLL_MS;
            var button = appRoot().querySelector("#" + status.id.replace(/_live_status$/, "_live_refresh"));
            var now = Date.now();
            if (button && (!lastClick[status.id] || now - lastClick[status.id] > wait)) {
                lastClick[status.id] = now;
                button.click();
            }
        });
    }

    function start() {
        applyTitles();
        setInterval(pollLiveViews, 1500);
        var pending = null;
        new MutationObserver(function() {
            if (pending === null) {
                pending = setTimeout(function() {
                    pending = null;
                    applyTitles();
                }, 300);
            }
        }).observe(appRoot() === document ? document.body : appRoot(), {childList: true, subtree: true});
    }

    if (typeof onUiLoaded === "function") {
        onUiLoaded(start);
    } else if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", start);
    } else {
        start();
    }
})();
