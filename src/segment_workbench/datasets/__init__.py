"""The synthetic demo shop (planted customer groups, attributes, survey, campaign and dirt)."""
