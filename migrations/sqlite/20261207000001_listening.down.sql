DROP TABLE play_positions;
ALTER TABLE assets DROP COLUMN mini_wave;
