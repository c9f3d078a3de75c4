// hypernet-ext panels (Create / Preprocess / Train / Resume, and Generate in the standalone UI):
// tooltips for every option in the webui's `titles` convention, and the live view's polling.
// Runs inside the webui (loaded like every extension script) and in the standalone UI (injected on load).
(function() {
    var hypernetExtPanelTitles = {
        // Create
        "Hypernetwork name": "File name of the new hypernetwork (letters, digits, '.', '_', '-' and spaces). It is also the name used in <hypernet:name> tags.",
        "Attention widths to train": "Context widths of the attention layers the hypernetwork modifies, read from the loaded model: 768 (SD1 text), 1024 (SD2 text), 2048 (SDXL text), 320/640/1280 (self-attention).",
        "Read widths from the model": "Read the attention widths again, e.g. after loading another checkpoint.",
        "Layer structure": "Width multipliers of each MLP layer, starting and ending with 1, e.g. 1, 2, 1. Larger numbers mean more parameters.",
        "Activation function": "Non-linearity between layers. linear means none (the webui default); relu, leakyrelu, elu and swish are common choices.",
        "Weight initialization": "How the weights start. Normal (std below) is the webui default; Xavier or Kaiming suit non-linear activations.",
        "Normal initialization std": "Standard deviation of the Normal initialization; small values start the hypernetwork close to doing nothing.",
        "Initialization seed (-1 = random)": "Seed of the initial weights; the same seed and options give the same file.",
        "Add layer normalization": "Insert a LayerNorm after each hidden layer.",
        "Use dropout": "Apply the dropout structure below during training (never when generating).",
        "Activate the output layer too": "Also apply the activation function after the last layer.",
        "Use skip connection (MonkeyPatch residual)": "MonkeyPatch-style residual blocks. Such files need this extension or MonkeyPatch to load.",
        "Dropout structure": "Dropout probability per layer, one value per layer structure entry, starting with 0, e.g. 0, 0.3, 0.",
        "Notes stored in the file": "Free text saved in the file (the webui's optional information).",
        "File format": "pt is the webui's format; safetensors cannot contain code and loads faster.",
        "Save into folder": "Folder the new file is written to (the first hypernetwork folder by default).",
        "Overwrite an existing file": "Replace a file of the same name. Off by default so nothing is overwritten by accident.",
        "Create hypernetwork": "Create the file with the options above.",
        // Preprocess
        "Source image folder": "Folder holding your raw images.",
        "Output folder": "Folder the processed images and captions are written to; it must not be inside the source folder.",
        "Output width": "Width of the processed images, in pixels.",
        "Output height": "Height of the processed images, in pixels.",
        "Resize mode": "crop: fill the size and crop the overflow; fit: keep the whole image and pad; stretch: ignore the aspect ratio.",
        "Padding for fit ('edge' or a colour)": "What fills the padding in fit mode: edge repeats the border pixels, or a colour such as white or #202020.",
        "Images smaller than the output": "upscale small images, or skip them.",
        "Keep original size": "Save images at their own size when no other operation needs resizing.",
        "Captioners": "Caption each image with these (BLIP and DeepDanbooru inside the webui; the file name anywhere).",
        "Refresh captioners": "Read the list of available captioners again.",
        "Existing caption file": "What to do with a caption .txt already beside a source image: ignore it, copy it, prepend it or append it.",
        "Caption separator": "Text put between captions from different sources.",
        "Create flipped copies": "Also save a mirrored copy of every image.",
        "Flip direction": "Mirror horizontally, vertically, or both.",
        "Split oversized images": "Cut images much longer than the output ratio into overlapping tiles.",
        "Split image threshold": "How far an image's ratio must differ from the output ratio before it is split.",
        "Split image overlap ratio": "How much neighbouring tiles overlap.",
        "Auto focal point crop": "Crop around faces, detail and edges instead of the centre.",
        "Focal point face weight": "Weight of detected faces when choosing the crop.",
        "Focal point entropy weight": "Weight of detailed regions when choosing the crop.",
        "Focal point edges weight": "Weight of edges when choosing the crop.",
        "Create debug image": "Save an image showing the focal points found.",
        "Auto-sized crop": "Choose an output size per image between the bounds below instead of one fixed size.",
        "Minimum dimension": "Smallest side an auto-sized crop may have.",
        "Maximum dimension": "Largest side an auto-sized crop may have.",
        "Minimum area": "Smallest area (width x height) of an auto-sized crop.",
        "Maximum area": "Largest area (width x height) of an auto-sized crop.",
        "Resizing objective": "Maximize area keeps as many pixels as possible; Minimize error keeps the aspect ratio closest.",
        "Error threshold": "Largest acceptable aspect-ratio error for an auto-sized crop.",
        "Keep transparency": "Keep the alpha channel (training can use it as a loss weight) instead of flattening it.",
        "Background for transparent pixels": "Colour transparent pixels are put on when transparency is not kept, e.g. white or 255,255,255.",
        "Outputs that already exist": "skip images already processed, or replace them.",
        "Include sub-folders": "Also process images in sub-folders of the source folder.",
        "Largest image (pixels)": "Refuse images with more pixels than this (protects against decompression bombs).",
        "Preprocess": "Process every image of the source folder in the background.",
        // Train
        "Hypernetwork to train": "Hypernetwork file to train; press Refresh list after adding files.",
        "Refresh list": "Read the hypernetwork folders again.",
        "Dataset directory": "Folder of training images, with optional .txt captions of the same name.",
        "Log directory": "Runs are written to <log directory>/<name>: checkpoints, previews, loss.csv and settings.",
        "Learning rate (schedule allowed)": "A rate such as 0.00001, or a schedule such as 5e-5:100, 5e-6:1500, 1e-6 (rate:until step).",
        "Train until step": "Training stops when the hypernetwork reaches this step; a file already at step 300 trains the remaining steps.",
        "Batch size": "Images per micro-batch.",
        "Gradient accumulation steps": "Micro-batches averaged per optimizer step; batch size x this = effective batch.",
        "Prompt template": "Built-in template name or path of a .txt file; [name] and [filewords] are replaced per image.",
        "Training width": "Width images are resized to for training (multiple of 64).",
        "Training height": "Height images are resized to for training (multiple of 64).",
        "Save a checkpoint every N steps": "Write <name>-<step> with its optimizer state to the run's hypernetworks folder; 0 disables.",
        "Render a preview every N steps": "Render a preview image to the run's images folder; 0 disables.",
        "Training seed": "Seed for noise, timesteps, dropout and shuffling; the same seed reproduces a run.",
        "Optimizer": "AdamW (default), Adam, SGD, any torch.optim optimizer, or Lion / D-Adaptation / Prodigy when installed.",
        "Optimizer arguments": "Extra keyword arguments, KEY=VALUE separated by ';' or new lines, e.g. weight_decay=0.01; betas=(0.9, 0.99).",
        "Precision": "fp32 is exact; bf16 and fp16 use autocast to save memory on GPUs.",
        "Gradient checkpointing": "Save memory at the cost of about one extra forward pass per step.",
        "Gradient clipping": "none, clip each gradient value, or clip the gradient norm.",
        "Clipping value (schedule allowed)": "The clipping limit; accepts the learning-rate schedule syntax.",
        "Learning rate scheduler": "schedule follows the learning rate text; cosine anneals with warm restarts from its first value.",
        "Cosine cycle steps": "Length of the first cosine cycle, in steps.",
        "Cosine cycle multiplier": "Each cycle is this many times longer than the previous one.",
        "Cosine warmup steps": "Linear warm-up at the start of each cycle.",
        "Cosine minimum learning rate": "Learning rate at the bottom of each cycle.",
        "Cosine peak decay": "The peak learning rate is multiplied by this at every restart.",
        "Resize images": "crop keeps the aspect ratio and crops; stretch ignores it (webui); fit pads (padding gets no loss weight).",
        "Aspect-ratio buckets": "Train each image near width x height pixels at its own aspect ratio instead of one size.",
        "Random horizontal flips": "Mirror images at random during training.",
        "Include dataset sub-folders": "Also read images in sub-folders of the dataset directory.",
        "Use PNG alpha channel as loss weight": "Transparent areas count less in the loss.",
        "Latent sampling method": "once: one latent sample per image, kept; deterministic: the mean; random: a new sample every step.",
        "Shuffle tags": "Shuffle the comma-separated tags of each caption every time it is used.",
        "Keep first N tags in place": "This many leading tags are never shuffled or dropped.",
        "Tag dropout": "Probability of leaving out each tag when building a prompt.",
        "Filename word regex": "Regular expression picking words from file names for [filewords] when there is no .txt caption.",
        "Filename join string": "Text joining the words found by the regex.",
        "Save optimizer state for resuming": "Write a .optim file beside each checkpoint so training can resume exactly.",
        "Write the result over the source file": "When training ends normally, also save the result over the hypernetwork file you chose (the webui always did).",
        "TensorBoard logging": "Write loss and learning-rate scalars for TensorBoard (needs the tensorboard package).",
        "Write loss.csv every N steps": "How often a loss row is recorded; 0 disables the CSV and plot.",
        "Stop when loss stays above (0 = off)": "Stop if the loss stays above this for the number of steps below (0.3 suits SD models). NaN or infinite losses always stop.",
        "Loss guard steps": "How many steps in a row the loss may stay above the threshold.",
        "Read parameters (prompt, etc...) from txt2img tab when making previews": "Use the txt2img tab's prompt, negative prompt, steps, sampler, CFG scale, seed and size for previews.",
        "Preview prompt (empty = first caption)": "Prompt of the preview images; empty uses the first caption of the current batch.",
        "Preview negative prompt": "Negative prompt of the preview images.",
        "Preview sampling steps": "Sampling steps of the preview images.",
        "Preview CFG scale": "Classifier-free guidance scale of the preview images.",
        "Preview seed (-1 = random)": "Seed of the preview images; a fixed seed makes previews comparable.",
        "Train hypernetwork": "Start training in the background; the live view shows step, loss, speed, ETA, the loss plot and the latest preview.",
        "Interrupt": "Stop after the current step; a checkpoint is saved so you can resume.",
        "Refresh status": "Update the live view now (it also updates by itself while a job runs).",
        // Resume
        "Training run": "A run folder under the log directory (one per hypernetwork).",
        "Refresh runs": "Read the log directory again.",
        "Show checkpoints": "List the run's checkpoints with their loss and optimizer state.",
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

    function applyTitles() {
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

    // Click the visible live view's refresh button while its status says a job is running.
    function pollLiveViews() {
        appRoot().querySelectorAll('[id^="hnx_"][id$="_live_status"]').forEach(function(status) {
            if (!visible(status) || !status.querySelector('[data-hnx-running="true"]')) {
                return;
            }
            var button = appRoot().querySelector("#" + status.id.replace(/_live_status$/, "_live_refresh"));
            var now = Date.now();
            if (button && (!lastClick[status.id] || now - lastClick[status.id] > 900)) {
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
