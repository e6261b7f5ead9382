DROP INDEX tracks_owner_art_idx;
