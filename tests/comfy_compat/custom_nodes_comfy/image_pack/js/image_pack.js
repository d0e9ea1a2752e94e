console.log("image_pack extension loaded");
