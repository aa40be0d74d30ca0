# Run by Godot 3 (GLES3): renders the sky of an exported Godot environment from a camera
# at the origin along the panorama's yaw 0, 90, 180, 270, up and down (up vectors as
# cubemap.perspective has them) into OUT/view_<name>.png.
# Inputs, from the environment (Godot 3.2 passes no user arguments to a -s script):
# SKYBOX_GODOT_PANORAMA (the image), SKYBOX_GODOT_SKY_ROTATION_Y (radians, the
# exported sky_rotation's Y), SKYBOX_GODOT_OUT (a folder).
extends SceneTree

# name, yaw, pitch: yaw turns right (Godot turns left for a positive angle about +Y)
var views = [["yaw0", 0, 0], ["yaw90", 90, 0], ["yaw180", 180, 0], ["yaw270", 270, 0],
		["up", 0, 90], ["down", 0, -90]]
var cam
var out
var index = -1
var frames = 0


func _init():
	var path = OS.get_environment("SKYBOX_GODOT_PANORAMA")
	out = OS.get_environment("SKYBOX_GODOT_OUT")
	var img = Image.new()
	if img.load(path) != OK:
		printerr("cannot load ", path)
		quit(1)
		return
	var tex = ImageTexture.new()
	tex.create_from_image(img, Texture.FLAG_FILTER | Texture.FLAG_REPEAT)
	var sky = PanoramaSky.new()
	sky.panorama = tex
	sky.radiance_size = Sky.RADIANCE_SIZE_32
	var env = Environment.new()
	env.background_mode = Environment.BG_SKY
	env.background_sky = sky
	env.background_sky_rotation = Vector3(0, float(OS.get_environment("SKYBOX_GODOT_SKY_ROTATION_Y")), 0)
	env.tonemap_mode = Environment.TONE_MAPPER_LINEAR
	var world = WorldEnvironment.new()
	world.environment = env
	root.add_child(world)
	cam = Camera.new()
	cam.fov = 90
	cam.keep_aspect = Camera.KEEP_WIDTH
	root.add_child(cam)
	cam.current = true


func _idle(_delta):
	frames += 1
	if frames < 4:  # a few frames for the sky's radiance to be built
		return false
	if index >= 0:
		var shot = root.get_texture().get_data()
		shot.flip_y()
		shot.save_png(out + "/view_" + views[index][0] + ".png")
	index += 1
	if index >= views.size():
		print("rendered ", views.size(), " views on ", VisualServer.get_video_adapter_name())
		quit(0)
		return true
	cam.rotation_degrees = Vector3(views[index][2], -views[index][1], 0)
	frames = 1
	return false
