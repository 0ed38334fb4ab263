"""Reading images with tesseract, transcript similarity, and the OCR rejection-sampling policy."""
